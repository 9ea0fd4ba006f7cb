package preview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users/userstest"
)

// Friday 2026-11-20 15:00 UTC = 18:00 in Moscow.
var friday = time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)

type fixture struct {
	d *sqlx.DB
	p *Previewer
}

func setup(t *testing.T) *fixture {
	t.Helper()
	d := testenv.DB(t)
	cs := campaigns.NewStore(d, campaigns.WithLinter(channelcheck.Linter()))
	for _, name := range []string{"weekly-feedback", "weekly-renewal", "order-receipt"} {
		f, err := campaigns.Load("../../examples/growfood/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cs.Apply(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{d: d, p: New(cs, d, nil, func() time.Time { return friday })}
}

// subscriber inserts a subscriber with identities and consents; channels
// maps channel → last inbound time (zero = none).
func (fx *fixture) subscriber(t *testing.T, ext, name, locale string, ids map[channels.Kind]time.Time, consent map[string]bool) int64 {
	t.Helper()
	var id int64
	if err := fx.d.Get(&id, `INSERT INTO subscribers (external_id, name, locale, time_zone, attributes) VALUES ($1, $2, $3, 'Europe/Moscow', '{"subscription_status":"active"}') RETURNING id`, ext, name, locale); err != nil {
		t.Fatal(err)
	}
	for ch, last := range ids {
		var lp *time.Time
		if !last.IsZero() {
			lp = &last
		}
		fx.d.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at) VALUES ($1, $2, $3, $4)`, id, string(ch), ext+"@"+string(ch), lp)
	}
	for topic, granted := range consent {
		fx.d.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, '*', $2, $3, 'api')`, id, topic, granted)
	}
	return id
}

func TestPreviewRussianTelegram(t *testing.T) {
	fx := setup(t)
	fx.subscriber(t, "ext-anna", "Анна", "ru", map[channels.Kind]time.Time{channels.Telegram: {}}, map[string]bool{"service": true})
	res, err := fx.p.Preview(context.Background(), Request{CampaignID: "weekly-feedback", Subscriber: "ext-anna"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Send || res.Channel != channels.Telegram || res.Account != channels.DefaultAccount || res.Step != "ask" || res.Message == nil {
		t.Fatalf("%+v", res)
	}
	m := res.Message
	if m.Locale != "ru" || !strings.Contains(m.Text, "Анна, прошла неделя с доставки") || !strings.Contains(m.Text, "Как вам еда?") {
		t.Errorf("text: %q", m.Text)
	}
	if len(m.Buttons) != 2 || m.Buttons[0].ID != "like" || m.Buttons[0].Text != "👍 Понравилось" || m.Buttons[1].ID != "dislike" {
		t.Errorf("buttons: %+v", m.Buttons)
	}
	textHolds(t, res, "would send now on telegram", "[👍 Понравилось] (reply \"like\")", "fallback  sms if not delivered within 15m → email if not read within 1d")
}

// textHolds writes res as the text preview and checks that it holds each of want.
func textHolds(t *testing.T, res *Result, want ...string) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteText(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text output lacks %q:\n%s", w, b.String())
		}
	}
}

func TestPreviewReasons(t *testing.T) {
	fx := setup(t)
	ctx := context.Background()
	fx.subscriber(t, "no-consent", "Bob", "en", map[channels.Kind]time.Time{channels.Telegram: {}}, nil)
	fx.subscriber(t, "service-only", "Ivan", "ru", map[channels.Kind]time.Time{channels.Telegram: {}}, map[string]bool{"service": true})
	capped := fx.subscriber(t, "capped", "Olga", "ru", map[channels.Kind]time.Time{channels.Telegram: {}}, map[string]bool{"marketing": true, "service": true})
	for i := 0; i < 2; i++ {
		fx.d.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, sent_at) VALUES ($1, $2, 'marketing', 'telegram', 'sent', $3)`,
			"k"+string(rune('a'+i)), capped, friday.Add(-time.Duration(i+1)*24*time.Hour))
	}
	fx.subscriber(t, "wa", "Maria", "ru", map[channels.Kind]time.Time{channels.WhatsApp: friday.Add(-72 * time.Hour)}, map[string]bool{"service": true})
	paused := fx.subscriber(t, "paused", "Petr", "ru", map[channels.Kind]time.Time{channels.Telegram: {}}, map[string]bool{"service": true})
	fx.d.MustExec(`UPDATE subscribers SET attributes = '{"subscription_status": "paused"}' WHERE id = $1`, paused)
	bare := fx.subscriber(t, "bare", "Nina", "ru", map[channels.Kind]time.Time{channels.Telegram: {}}, map[string]bool{"service": true})
	fx.d.MustExec(`UPDATE subscribers SET attributes = '{}' WHERE id = $1`, bare)

	tests := []struct {
		name    string
		req     Request
		send    bool
		channel channels.Kind
		reason  string
		check   func(t *testing.T, r *Result)
	}{
		{"no consent", Request{CampaignID: "weekly-feedback", Subscriber: "no-consent"}, false, "", "no_consent", func(t *testing.T, r *Result) {
			if r.Message == nil || !strings.Contains(r.Message.Text, "Did you like the food?") {
				t.Errorf("content still shown: %+v", r.Message)
			}
		}},
		{"marketing without marketing consent", Request{CampaignID: "weekly-renewal", Subscriber: "service-only"}, false, "", "no_consent", nil},
		{"frequency cap", Request{CampaignID: "weekly-renewal", Subscriber: "capped"}, false, channels.Telegram, "frequency_cap", nil},
		{"quiet hours", Request{CampaignID: "weekly-feedback", Subscriber: "service-only", At: time.Date(2026, 11, 20, 20, 30, 0, 0, time.UTC)}, false, channels.Telegram, "quiet_hours", func(t *testing.T, r *Result) {
			if r.DeferUntil == nil || !r.DeferUntil.Equal(time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)) {
				t.Errorf("defer until %v", r.DeferUntil)
			}
			if !strings.Contains(r.Why, "until Sat 2026-11-21 09:00 MSK") {
				t.Errorf("why: %s", r.Why)
			}
		}},
		{"whatsapp outside window uses the template", Request{CampaignID: "weekly-feedback", Subscriber: "wa"}, true, channels.WhatsApp, "", func(t *testing.T, r *Result) {
			if !r.OutsideWindow || r.Message == nil || r.Message.Template == nil || r.Message.Template.Name != "growfood_feedback_v1" {
				t.Errorf("%+v %+v", r, r.Message)
			}
		}},
		{"forced channel without identity", Request{CampaignID: "weekly-feedback", Subscriber: "service-only", Channel: channels.Viber}, false, "", "no_identity", func(t *testing.T, r *Result) {
			if r.RenderedFor != channels.Viber || r.Message == nil {
				t.Errorf("%+v", r)
			}
		}},
		{"step and payload", Request{CampaignID: "weekly-feedback", Subscriber: "service-only", Step: "menu"}, true, channels.Telegram, "", func(t *testing.T, r *Result) {
			if r.Message.ImageURL == "" || !strings.Contains(r.Message.Text, "меню на следующую неделю") {
				t.Errorf("%+v", r.Message)
			}
		}},
		// The gate would send on telegram, but the scheduler never creates
		// a run for a subscriber outside the audience.
		{"outside the audience", Request{CampaignID: "weekly-feedback", Subscriber: "paused"}, false, channels.Telegram, "", func(t *testing.T, r *Result) {
			if r.InAudience || len(r.Audience) != 2 || !r.Audience[0].Holds || r.Audience[1].Holds || r.Audience[1].Detail != `subscription_status is "paused"` {
				t.Errorf("audience: %v %+v", r.InAudience, r.Audience)
			}
			if !strings.Contains(r.Why, `where[0] subscription_status eq "active" does not hold (subscription_status is "paused")`) {
				t.Errorf("why: %s", r.Why)
			}
		}},
		{"outside the audience: attribute missing", Request{CampaignID: "weekly-feedback", Subscriber: "bare"}, false, channels.Telegram, "", func(t *testing.T, r *Result) {
			if r.InAudience || !strings.Contains(r.Why, "(the subscriber has no subscription_status)") {
				t.Errorf("why: %s", r.Why)
			}
		}},
		{"outside the audience and no consent", Request{CampaignID: "weekly-renewal", Subscriber: "paused"}, false, "", "no_consent", func(t *testing.T, r *Result) {
			if r.InAudience || !strings.Contains(r.Why, "consent marketing consent on one of telegram, viber, whatsapp does not hold") ||
				!strings.Contains(r.Why, "where[0]") || len(r.Audience) != 3 || r.Audience[2].Rule != `did not post "subscription.renewed" within 1w` ||
				!strings.HasPrefix(r.Audience[2].Detail, "not evaluated") {
				t.Errorf("why: %s\n%+v", r.Why, r.Audience)
			}
		}},
		{"in the audience", Request{CampaignID: "weekly-feedback", Subscriber: "service-only"}, true, channels.Telegram, "", func(t *testing.T, r *Result) {
			if !r.InAudience || len(r.Audience) != 2 || !r.Audience[1].Holds {
				t.Errorf("audience: %+v", r.Audience)
			}
		}},
		{"render error", Request{CampaignID: "order-receipt", Subscriber: "service-only"}, false, channels.Telegram, "", func(t *testing.T, r *Result) {
			if r.RenderError == "" || !strings.Contains(r.RenderError, `"order_id"`) || !strings.Contains(r.Why, "does not render on telegram") {
				t.Errorf("render error %q, why %s", r.RenderError, r.Why)
			}
		}},
		{"receipt with payload money", Request{CampaignID: "order-receipt", Subscriber: "service-only", Payload: map[string]any{
			"order_id": "A-1042", "paid_at": "2026-11-20T12:00:00Z", "total": 4590.5, "currency": "RUB", "fiscal_sign": "3522315893",
			"receipt_url": "https://ofd.example/r/1", "items": []any{map[string]any{"name": "Рацион Fit 1500", "qty": 1, "price": 4590.5}},
		}}, true, channels.Telegram, "", func(t *testing.T, r *Result) {
			if r.Message == nil || !strings.Contains(r.Message.Text, "Итого: 4 590,50 ₽") {
				t.Errorf("%+v %s", r.Message, r.RenderError)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := fx.p.Preview(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Send != tt.send || r.Channel != tt.channel || r.Reason != tt.reason {
				t.Fatalf("send=%v channel=%q reason=%q why=%s", r.Send, r.Channel, r.Reason, r.Why)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	if _, err := fx.p.Preview(ctx, Request{CampaignID: "weekly-feedback", Subscriber: "nobody"}); !errors.Is(err, ErrNoSubscriber) {
		t.Errorf("unknown subscriber: %v", err)
	}
	if _, err := fx.p.Preview(ctx, Request{CampaignID: "weekly-feedback", Subscriber: "wa", Step: "answer"}); !errors.Is(err, ErrNoStep) {
		t.Errorf("not a send step: %v", err)
	}
}

func TestPreviewAPI(t *testing.T) {
	fx := setup(t)
	fx.subscriber(t, "ext-anna", "Анна <b>", "ru", map[channels.Kind]time.Time{channels.Telegram: {}}, map[string]bool{"service": true})
	mux := server.NewMux()
	(&API{P: fx.p}).Register(mux)
	h := userstest.AsAdmin(mux)
	tests := []struct {
		path   string
		status int
	}{
		{"/v1/campaigns/weekly-feedback/preview?subscriber=ext-anna", 200},
		{"/v1/campaigns/weekly-feedback/preview", 400},
		{"/v1/campaigns/weekly-feedback/preview?subscriber=ext-anna&at=tomorrow", 400},
		{"/v1/campaigns/nope/preview?subscriber=ext-anna", 404},
		{"/v1/campaigns/weekly-feedback/preview?subscriber=nobody", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s: %d %s", tt.path, rec.Code, rec.Body)
			continue
		}
		if tt.status == 200 {
			var r Result
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			// Telegram HTML: the hostile name is escaped in the text.
			if !strings.Contains(r.Message.Text, "Анна &lt;b&gt;") {
				t.Errorf("text not escaped: %q", r.Message.Text)
			}
		}
	}
}
