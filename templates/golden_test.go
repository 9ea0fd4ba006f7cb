package templates

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from the current output")

// growfood is a GrowFood-like campaign: a feedback question with buttons, a
// menu with a photo, and a receipt; ru and en, a Telegram and an email
// variant, and a default for the other channels.
var growfood = &campaigns.Definition{ID: "growfood", Templates: map[string]campaigns.Template{
	"ask": {
		"telegram": {
			"ru": {Text: "<b>{{default \"Здравствуйте\" .Subscriber.Name}}</b>, как вам ужины этой недели? Вы попробовали {{.Payload.count}} {{plural .Payload.count \"блюдо\" \"блюда\" \"блюд\"}}.",
				Buttons: []campaigns.Button{{ID: "good", Text: "👍 Вкусно"}, {ID: "bad", Text: "👎 Не очень"}}},
			"en": {Text: "<b>{{default \"Hi\" .Subscriber.Name}}</b>, how were this week's dinners? You tried {{.Payload.count}} {{plural .Payload.count \"dish\" \"dishes\"}}.",
				Buttons: []campaigns.Button{{ID: "good", Text: "👍 Tasty"}, {ID: "bad", Text: "👎 Not really"}}},
		},
		"default": {
			"ru": {Text: "{{default \"Здравствуйте\" .Subscriber.Name}}, как вам ужины этой недели? Ответьте ДА или НЕТ.",
				Buttons:          []campaigns.Button{{ID: "good", Text: "👍 Вкусно"}, {ID: "bad", Text: "👎 Не очень"}},
				WhatsAppTemplate: &campaigns.WhatsAppTemplate{Name: "weekly_feedback", Language: "ru", Params: []string{"{{.Subscriber.Name}}"}}},
			"en": {Text: "{{default \"Hi\" .Subscriber.Name}}, how were this week's dinners? Reply YES or NO.",
				Buttons:          []campaigns.Button{{ID: "good", Text: "👍 Tasty"}, {ID: "bad", Text: "👎 Not really"}},
				WhatsAppTemplate: &campaigns.WhatsAppTemplate{Name: "weekly_feedback", Language: "en", Params: []string{"{{.Subscriber.Name}}"}}},
		},
		"email": {
			"ru": {Subject: "{{.Subscriber.Name}}, как вам ужины?", Text: "Здравствуйте, {{.Subscriber.Name}}! Ответьте на это письмо: понравились ли ужины?",
				HTML: `<p>Здравствуйте, <b>{{.Subscriber.Name}}</b>!</p><p><a href="https://growfood.pro/feedback?c={{.Subscriber.ExternalID}}&a=good">👍 Вкусно</a></p>`},
			"en": {Subject: "{{.Subscriber.Name}}, how were the dinners?", Text: "Hi {{.Subscriber.Name}}! Reply to this email: did you like the dinners?",
				HTML: `<p>Hi <b>{{.Subscriber.Name}}</b>!</p><p><a href="https://growfood.pro/feedback?c={{.Subscriber.ExternalID}}&a=good">👍 Tasty</a></p>`},
		},
	},
	"menu": {
		"default": {
			"ru": {Text: "Меню на неделю с {{date .Payload.week_start}}: {{.Payload.dishes}} {{plural .Payload.dishes \"блюдо\" \"блюда\" \"блюд\"}}, {{money .Payload.price \"RUB\"}}. Заказ до {{datetime .Payload.deadline}}.",
				Image: "https://cdn.growfood.pro/menu/{{.Payload.week}}.jpg", Buttons: []campaigns.Button{{URL: "https://growfood.pro/menu?w={{.Payload.week}}", Text: "Открыть меню"}}},
			"en": {Text: "Menu for the week of {{date .Payload.week_start}}: {{.Payload.dishes}} {{plural .Payload.dishes \"dish\" \"dishes\"}}, {{money .Payload.price \"RUB\"}}. Order by {{datetime .Payload.deadline}}.",
				Image: "https://cdn.growfood.pro/menu/{{.Payload.week}}.jpg", Buttons: []campaigns.Button{{URL: "https://growfood.pro/menu?w={{.Payload.week}}", Text: "Open the menu"}}},
		},
		"email": {
			"ru": {Subject: "Меню с {{date .Payload.week_start}}", Text: "Меню: {{.Payload.dishes}} {{plural .Payload.dishes \"блюдо\" \"блюда\" \"блюд\"}}, {{money .Payload.price \"RUB\"}}.",
				HTML: `<h1>Меню с {{date .Payload.week_start}}</h1><img src="https://cdn.growfood.pro/menu/{{.Payload.week}}.jpg" alt="{{.Subscriber.Name}}">`},
			"en": {Subject: "Menu from {{date .Payload.week_start}}", Text: "Menu: {{.Payload.dishes}} {{plural .Payload.dishes \"dish\" \"dishes\"}}, {{money .Payload.price \"RUB\"}}.",
				HTML: `<h1>Menu from {{date .Payload.week_start}}</h1><img src="https://cdn.growfood.pro/menu/{{.Payload.week}}.jpg" alt="{{.Subscriber.Name}}">`},
		},
	},
	"receipt": {
		"default": {
			"ru": {Text: "Чек по заказу №{{.Payload.order}} от {{date .Now \"short\"}}: {{money .Payload.total \"RUB\"}}. Доставка {{date .Payload.delivery \"weekday\"}}, {{time .Payload.delivery}}.", Tag: "POST_PURCHASE_UPDATE"},
			"en": {Text: "Receipt for order #{{.Payload.order}} of {{date .Now \"short\"}}: {{money .Payload.total \"RUB\"}}. Delivery {{date .Payload.delivery \"weekday\"}}, {{time .Payload.delivery}}.", Tag: "POST_PURCHASE_UPDATE"},
		},
		"email": {
			"ru": {Subject: "Чек по заказу №{{.Payload.order}}", Text: "Итого: {{money .Payload.total \"RUB\"}}", HTML: "<p>Итого: <b>{{money .Payload.total \"RUB\"}}</b></p>"},
			"en": {Subject: "Receipt for order #{{.Payload.order}}", Text: "Total: {{money .Payload.total \"RUB\"}}", HTML: "<p>Total: <b>{{money .Payload.total \"RUB\"}}</b></p>"},
		},
	},
}}

func goldenData(locale string) Data {
	s := Subscriber{ID: 42, ExternalID: "gf-42", Name: "Аня <Котова> & Co", Locale: "ru", TimeZone: "Europe/Moscow"}
	if locale == "en" {
		s = Subscriber{ID: 43, ExternalID: "gf-43", Name: "Ann \"O'Neil\" <b>", Locale: "en-US", TimeZone: "America/New_York"}
	}
	return Data{Subscriber: s, Now: testNow, CampaignID: "growfood", Payload: map[string]any{
		"count": 21.0, "dishes": 5.0, "price": 4990.0, "total": "12345.6", "order": "A-1001", "week": 11,
		"week_start": "2026-03-09", "deadline": "2026-03-07T20:00:00Z", "delivery": "2026-03-09T06:30:00Z",
	}}
}

func dump(r Rendered) string {
	var b strings.Builder
	fmt.Fprintf(&b, "channel: %s\nlocale: %s\nformat: %s\n", r.Channel, r.Locale, r.Format)
	if r.Subject != "" {
		fmt.Fprintf(&b, "subject: %s\n", r.Subject)
	}
	if r.ImageURL != "" {
		fmt.Fprintf(&b, "image: %s\n", r.ImageURL)
	}
	fmt.Fprintf(&b, "text: %s\n", r.Text)
	if r.HTML != "" {
		fmt.Fprintf(&b, "html: %s\n", r.HTML)
	}
	for i, bt := range r.Buttons {
		fmt.Fprintf(&b, "button[%d]: id=%q text=%q url=%q\n", i, bt.ID, bt.Text, bt.URL)
	}
	if r.Template != nil {
		fmt.Fprintf(&b, "whatsapp_template: %s/%s params=%q\n", r.Template.Name, r.Template.Language, r.Template.Params)
	}
	if r.Tag != "" {
		fmt.Fprintf(&b, "tag: %s\n", r.Tag)
	}
	if r.Segments > 0 {
		fmt.Fprintf(&b, "segments: %d\n", r.Segments)
	}
	return b.String()
}

// TestGolden renders every template of the GrowFood-like campaign on every
// channel in ru and en; go test ./templates -run Golden -update rewrites the files.
func TestGolden(t *testing.T) {
	r := NewRenderer()
	for _, ch := range []channels.Kind{channels.Telegram, channels.Viber, channels.WhatsApp, channels.Messenger, channels.VK, channels.SMS, channels.Email} {
		for _, loc := range []string{"ru", "en"} {
			t.Run(string(ch)+"."+loc, func(t *testing.T) {
				var b strings.Builder
				for _, name := range []string{"ask", "menu", "receipt"} {
					fmt.Fprintf(&b, "=== %s\n", name)
					out, err := r.Render("v1", growfood, name, ch, goldenData(loc))
					if err != nil {
						fmt.Fprintf(&b, "error: %v\n", err)
						continue
					}
					b.WriteString(dump(out))
				}
				path := filepath.Join("testdata", "golden", string(ch)+"."+loc+".txt")
				if *update {
					if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if b.String() != string(want) {
					t.Errorf("%s differs from the rendering:\n--- got\n%s\n--- want\n%s", path, b.String(), want)
				}
			})
		}
	}
}
