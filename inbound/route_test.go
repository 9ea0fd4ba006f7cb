package inbound

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestStartWithoutKnownCodeIsRoutedAsText(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	c := &routes{startErr: fmt.Errorf("consent start: %w", consent.ErrNotStart)}
	s := connected(t, d, c, nil)
	if _, err := s.Accept(context.Background(), []channels.Event{
		{Type: channels.EventStart, Text: "order ABCDEFGHIJKLMNOPQRSTUV", ProviderEventID: "w1"},
		{Type: channels.EventStart, Text: "stop", ProviderEventID: "w2"}, // not code-shaped, but the text rules apply
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.list(); got != "reply:w1 opt_out:w2" {
		t.Fatalf("effects %q", got)
	}
}

func TestEventsBeforeConnectAreRetriedAfter(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	s := New(d, quiet(), nil)
	if _, err := s.Accept(ctx, []channels.Event{{Type: channels.EventText, ProviderEventID: "early", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	c := &routes{}
	s.Connect(Routes{Consent: c, Statuses: c, Replies: c})
	if _, err := s.Reconcile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := c.list(); got != "reply:early" {
		t.Fatalf("effects %q", got)
	}
}

// waOptIn is a WhatsApp webhook body with one text message.
func waOptIn(id, from, text string) []byte {
	return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
		"metadata":{"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Анна"},"wa_id":%q}],
		"messages":[{"from":%q,"id":%q,"timestamp":"1749416390","type":"text","text":{"body":%q}}]}}]}]}`, from, from, id, text)
}

// The production path of a WhatsApp opt-in: the adapter's parser, the sink
// and the real consent binder. A known code binds the sender; a code-shaped
// token that is no code reaches the replies as an ordinary text.
func TestWhatsAppOptInThroughTheSink(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	code, err := consent.NewCodes(nil).Create(ctx, d, consent.NewCode{Topics: consent.Topics, Source: consent.SourceWidget, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := &routes{}
	s := New(d, quiet(), nil)
	s.Connect(Routes{Consent: consent.NewBinder(d, quiet(), nil), Statuses: c, Replies: c})
	for _, body := range [][]byte{
		waOptIn("wamid.1", "79161234567", "Хочу получать уведомления / Subscribe me: "+code.Code),
		waOptIn("wamid.2", "79160000002", "Заказ ABCDEFGHIJKLMNOPQRSTUV не пришёл"),
	} {
		evs, err := whatsapp.Parse(body, "main")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	var bound []string
	if err := d.Select(&bound, `SELECT address FROM channel_identities WHERE channel = 'whatsapp'`); err != nil {
		t.Fatal(err)
	}
	if len(bound) != 1 || bound[0] != "+79161234567" { // stored in E.164
		t.Errorf("bound identities %q, want only the sender of the code", bound)
	}
	if got := c.list(); got != "reply:wamid.2" {
		t.Errorf("replies %q, want the message without a code", got)
	}
	var results []string
	if err := d.Select(&results, `SELECT result FROM inbound_events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(results) != "[start reply]" {
		t.Errorf("results %q", results)
	}
}

func TestReconcilerRunsOnTheClock(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	c := &routes{}
	failed := false
	c.replyFunc = func(_ context.Context, ev channels.Event) error {
		if !failed {
			failed = true
			return fmt.Errorf("database hiccup")
		}
		c.record("reply", ev)
		return nil
	}
	s := connected(t, d, c, clk.Now)
	if _, err := s.Accept(ctx, []channels.Event{{Type: channels.EventText, ProviderEventID: "r1", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	r := NewReconciler(s, clk, time.Minute)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	clk.Advance(time.Minute)
	testenv.WaitFor(t, "the retried reply", 10*time.Second, func() bool { return c.list() == "reply:r1" })
}
