package consent_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/testenv"
)

type binderEnv struct {
	db     *sqlx.DB
	b      *consent.Binder
	codes  *consent.Codes
	ledger *consent.Ledger
}

func newBinderEnv(t *testing.T) *binderEnv {
	d := testenv.DB(t)
	return &binderEnv{db: d, b: consent.NewBinder(d, nil, clock), codes: consent.NewCodes(clock), ledger: consent.NewLedger()}
}

func (e *binderEnv) current(t *testing.T, sub int64, ch channels.Kind, topic consent.Topic) bool {
	t.Helper()
	ok, err := e.ledger.Current(ctx(), e.db, sub, ch, topic)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func (e *binderEnv) identity(t *testing.T, ch channels.Kind, addr string) int64 {
	t.Helper()
	var sub int64
	if err := e.db.Get(&sub, `SELECT subscriber_id FROM channel_identities WHERE channel = $1 AND address = $2`, string(ch), addr); err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestBinderStart(t *testing.T) {
	t.Parallel()
	e := newBinderEnv(t)
	cust, err := consent.EnsureSubscriber(ctx(), e.db, consent.Customer{ExternalID: "cust-1"})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := e.codes.Create(ctx(), e.db, consent.NewCode{SubscriberID: cust, Topics: consent.Topics, Source: consent.SourceJWTLink, JTI: "j1", TTL: time.Hour, TextVersion: "v7"})
	if err != nil {
		t.Fatal(err)
	}
	widget, err := e.codes.Create(ctx(), e.db, consent.NewCode{Topics: []consent.Topic{consent.TopicService}, Source: consent.SourceWidget,
		Attribution: consent.Attribution{UTMSource: "checkout", UTMCampaign: "week-menu"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("telegram /start with a customer code", func(t *testing.T) {
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram, From: "1001", Code: bound.Code, ProviderEventID: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		if sub != cust {
			t.Fatalf("bound to %d, want customer %d", sub, cust)
		}
		if e.identity(t, channels.Telegram, "1001") != cust {
			t.Error("identity not bound")
		}
		for _, topic := range consent.Topics {
			if !e.current(t, cust, channels.Telegram, topic) {
				t.Errorf("%s not granted", topic)
			}
		}
		if e.current(t, cust, channels.Viber, consent.TopicService) {
			t.Error("consent leaked to another channel")
		}
		h, _ := e.ledger.History(ctx(), e.db, cust)
		var p consent.Proof
		_ = json.Unmarshal(h[0].Proof, &p)
		if h[0].Source != consent.SourceJWTLink || p.Code != bound.Code || p.JTI != "j1" || p.ProviderEventID != "u1" || p.TextVersion != "v7" {
			t.Errorf("event %+v proof %+v", h[0], p)
		}
	})

	t.Run("redelivered provider event changes nothing", func(t *testing.T) {
		before, _ := e.ledger.History(ctx(), e.db, cust)
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram, From: "1001", Code: bound.Code, ProviderEventID: "u1"})
		if err != nil || sub != cust {
			t.Fatalf("%d %v", sub, err)
		}
		after, _ := e.ledger.History(ctx(), e.db, cust)
		if len(after) != len(before) {
			t.Errorf("ledger grew from %d to %d", len(before), len(after))
		}
	})

	t.Run("customer code cannot be reused by another telegram user", func(t *testing.T) {
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram, From: "666", Code: bound.Code, ProviderEventID: "u2"})
		if err != nil {
			t.Fatal(err)
		}
		if sub == cust {
			t.Fatal("a second identity took over the customer with a used code")
		}
		if e.current(t, sub, channels.Telegram, consent.TopicMarketing) {
			t.Error("marketing granted without a usable code")
		}
	})

	t.Run("the same code works once on another channel", func(t *testing.T) {
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.WhatsApp, From: "79001112233",
			Text: "Хочу получать уведомления / Subscribe me: " + bound.Code, ProviderEventID: "wamid.1"})
		if err != nil || sub != cust {
			t.Fatalf("%d %v", sub, err)
		}
		if !e.current(t, cust, channels.WhatsApp, consent.TopicMarketing) {
			t.Error("whatsapp marketing not granted")
		}
	})

	t.Run("widget code: anonymous subscriber with attribution", func(t *testing.T) {
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Viber, From: "vb-1=", Code: widget.Code, ProviderEventID: "tok-1", Name: "Olga", Locale: "en-US"})
		if err != nil {
			t.Fatal(err)
		}
		var ext *string
		var locale string
		if err := e.db.QueryRow(`SELECT external_id, locale FROM subscribers WHERE id = $1`, sub).Scan(&ext, &locale); err != nil {
			t.Fatal(err)
		}
		if ext != nil || locale != "en" {
			t.Errorf("anonymous subscriber: external_id %v locale %q", ext, locale)
		}
		if !e.current(t, sub, channels.Viber, consent.TopicService) || e.current(t, sub, channels.Viber, consent.TopicMarketing) {
			t.Error("widget code asked for service only")
		}
		var payload string
		if err := e.db.Get(&payload, `SELECT payload::text FROM subscriber_events WHERE subscriber_id = $1 AND name = 'consent.opt_in'`, sub); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(payload, `"utm_campaign": "week-menu"`) {
			t.Errorf("attribution not recorded: %s", payload)
		}
		// The same widget code serves the next visitor too.
		sub2, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Viber, From: "vb-2=", Code: widget.Code, ProviderEventID: "tok-2"})
		if err != nil || sub2 == sub {
			t.Fatalf("second visitor: %d %v", sub2, err)
		}
	})

	t.Run("no code: anonymous subscriber, service only, from the dialog", func(t *testing.T) {
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram, From: "2002", Text: "/start", ProviderEventID: "u3"})
		if err != nil {
			t.Fatal(err)
		}
		if sub == cust || !e.current(t, sub, channels.Telegram, consent.TopicService) || e.current(t, sub, channels.Telegram, consent.TopicMarketing) {
			t.Errorf("sub %d", sub)
		}
		h, _ := e.ledger.History(ctx(), e.db, sub)
		if len(h) != 1 || h[0].Source != consent.SourceDialog {
			t.Errorf("history %+v", h)
		}
	})

	t.Run("unknown code is like no code", func(t *testing.T) {
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Messenger, From: "psid-1", Code: "nosuchcode0000000000000", ProviderEventID: "m1"})
		if err != nil || sub == cust {
			t.Fatalf("%d %v", sub, err)
		}
	})

	t.Run("anonymous identity is linked later by a customer code, old consent revoked with a note", func(t *testing.T) {
		anon := e.identity(t, channels.Telegram, "2002")
		code, err := e.codes.Create(ctx(), e.db, consent.NewCode{SubscriberID: cust, Topics: consent.Topics, Source: consent.SourceJWTLink, JTI: "j2", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram, From: "2002", Text: "/start " + code.Code, ProviderEventID: "u4"})
		if err != nil || sub != cust {
			t.Fatalf("%d %v", sub, err)
		}
		if e.identity(t, channels.Telegram, "2002") != cust {
			t.Error("identity not rebound")
		}
		if e.current(t, anon, channels.Telegram, consent.TopicService) {
			t.Error("old subscriber still has consent on the rebound channel")
		}
		h, _ := e.ledger.History(ctx(), e.db, anon)
		last := h[len(h)-1]
		var p consent.Proof
		_ = json.Unmarshal(last.Proof, &p)
		if last.Granted || p.Note != "identity_rebound" || p.OtherSubscriberID != cust {
			t.Errorf("rebind note: %+v %+v", last, p)
		}
	})

	t.Run("expired code is like no code", func(t *testing.T) {
		old := consent.NewCodes(func() time.Time { return testNow.Add(-48 * time.Hour) })
		code, err := old.Create(ctx(), e.db, consent.NewCode{SubscriberID: cust, Topics: consent.Topics, Source: consent.SourceJWTLink, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.VK, From: "vk-9", Code: code.Code, ProviderEventID: "vk1"})
		if err != nil || sub == cust {
			t.Fatalf("expired code bound to the customer: %d %v", sub, err)
		}
	})

	t.Run("bad events are refused", func(t *testing.T) {
		for _, ev := range []channels.Event{
			{Type: channels.EventStart, Channel: "icq", From: "1"},
			{Type: channels.EventStart, Channel: channels.Telegram, From: ""},
		} {
			if _, err := e.b.Start(ctx(), ev); err == nil {
				t.Errorf("Start(%+v) accepted", ev)
			}
		}
	})
}

func TestBinderOptOut(t *testing.T) {
	t.Parallel()
	e := newBinderEnv(t)
	cust, _ := consent.EnsureSubscriber(ctx(), e.db, consent.Customer{ExternalID: "cust-2"})
	code, err := e.codes.Create(ctx(), e.db, consent.NewCode{SubscriberID: cust, Topics: consent.Topics, Source: consent.SourceJWTLink, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []channels.Kind{channels.Telegram, channels.Viber} {
		if _, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: ch, From: "u-" + string(ch), Code: code.Code}); err != nil {
			t.Fatal(err)
		}
	}
	// An all-channel service grant from the API must not survive a channel opt-out either.
	if err := e.ledger.Grant(ctx(), e.db, consent.Change{SubscriberID: cust, Channel: consent.AllChannels, Topic: consent.TopicService, Source: consent.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	ev := channels.Event{Type: channels.EventText, Channel: channels.Telegram, From: "u-telegram", Text: "Стоп!", ProviderEventID: "u9"}
	if !consent.IsOptOutEvent(ev) {
		t.Fatal("Стоп! is an opt-out")
	}
	if err := e.b.OptOut(ctx(), ev); err != nil {
		t.Fatal(err)
	}
	for _, topic := range consent.Topics {
		if e.current(t, cust, channels.Telegram, topic) {
			t.Errorf("telegram %s still granted after opt-out", topic)
		}
		if !e.current(t, cust, channels.Viber, topic) {
			t.Errorf("viber %s lost by a telegram opt-out", topic)
		}
	}
	// Button payload on Viber.
	btn := channels.Event{Type: channels.EventButton, Channel: channels.Viber, From: "u-viber", Payload: consent.UnsubscribePayload}
	if !consent.IsOptOutEvent(btn) {
		t.Fatal("unsubscribe button is an opt-out")
	}
	if err := e.b.OptOut(ctx(), btn); err != nil {
		t.Fatal(err)
	}
	if e.current(t, cust, channels.Viber, consent.TopicMarketing) {
		t.Error("viber marketing still granted")
	}
	// Re-opt-in needs a new consent event: a new start with a code.
	code2, _ := e.codes.Create(ctx(), e.db, consent.NewCode{SubscriberID: cust, Topics: consent.Topics, Source: consent.SourceJWTLink, TTL: time.Hour})
	if _, err := e.b.Start(ctx(), channels.Event{Type: channels.EventStart, Channel: channels.Telegram, From: "u-telegram", Code: code2.Code}); err != nil {
		t.Fatal(err)
	}
	if !e.current(t, cust, channels.Telegram, consent.TopicMarketing) {
		t.Error("re-opt-in did not grant")
	}
	// Unknown identity: nothing to revoke.
	if err := e.b.OptOut(ctx(), channels.Event{Type: channels.EventOptOut, Channel: channels.Viber, From: "stranger"}); err != nil {
		t.Error(err)
	}
}
