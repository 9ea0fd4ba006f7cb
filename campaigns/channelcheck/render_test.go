package channelcheck

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/templates"
)

// samplePayload is what the shop's backend sends with order.delivered and
// with the order-receipt trigger.
var samplePayload = map[string]any{
	"order_id": "A-1042", "paid_at": "2026-11-20T12:00:00Z", "total": 4590.5, "currency": "RUB",
	"fiscal_sign": "3522315893", "receipt_url": "https://ofd.example/r/A-1042",
	"items": []any{
		map[string]any{"name": "Рацион Fit 1500 <5 дней>", "qty": 1, "price": 3990.5},
		map[string]any{"name": "Смузи & орехи", "qty": 2, "price": 300},
	},
}

// Every template of every example renders on every channel it can be sent
// on, in Russian and English, for a subscriber with a hostile name.
func TestExamplesRenderOnEveryChannel(t *testing.T) {
	paths, _ := filepath.Glob("../../examples/growfood/*.yaml")
	r := templates.NewRenderer()
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	n := 0
	for _, p := range paths {
		f, err := campaigns.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		for name := range f.Def.Templates {
			for _, ch := range f.Def.AllChannels() {
				for _, loc := range []string{"ru", "en"} {
					d := templates.Data{
						Subscriber: templates.Subscriber{ID: 1, ExternalID: "gf-1", Name: "<b>Анна</b> {{.}}", Locale: loc, TimeZone: "Europe/Moscow"},
						Payload:    samplePayload, Now: now, CampaignID: f.Def.ID,
					}
					m, err := r.Render("v1", f.Def, name, channels.Kind(ch), d)
					if err != nil {
						t.Errorf("%s %s %s %s: %v", f.Def.ID, name, ch, loc, err)
						continue
					}
					n++
					if m.Locale != loc || strings.TrimSpace(m.Text) == "" {
						t.Errorf("%s %s %s %s: locale %s text %q", f.Def.ID, name, ch, loc, m.Locale, m.Text)
					}
					if ch == "telegram" && strings.Contains(m.Text, "<b>Анна") {
						t.Errorf("%s %s telegram: subscriber name not escaped: %q", f.Def.ID, name, m.Text)
					}
					if ch == "email" && m.Subject == "" {
						t.Errorf("%s %s email %s: no subject", f.Def.ID, name, loc)
					}
				}
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d renders", n)
	}
}
