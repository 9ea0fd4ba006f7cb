package templates_test

import (
	"fmt"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/templates"
)

// The weekly feedback question for a Russian subscriber on Telegram: the
// author's <b> stays, the subscriber's name is escaped.
func ExampleRenderer_Render() {
	def := &campaigns.Definition{ID: "weekly-feedback", Templates: map[string]campaigns.Template{
		"ask": {"default": {
			"ru": {Text: `<b>{{.Subscriber.Name}}</b>, как вам {{.Payload.count}} {{plural .Payload.count "ужин" "ужина" "ужинов"}} на этой неделе?`,
				Buttons: []campaigns.Button{{ID: "good", Text: "👍"}, {ID: "bad", Text: "👎"}}},
			"en": {Text: `<b>{{.Subscriber.Name}}</b>, how were this week's {{.Payload.count}} {{plural .Payload.count "dinner" "dinners"}}?`,
				Buttons: []campaigns.Button{{ID: "good", Text: "👍"}, {ID: "bad", Text: "👎"}}},
		}},
	}}
	r := templates.NewRenderer()
	out, err := r.Render("v1", def, "ask", channels.Telegram, templates.Data{
		Subscriber: templates.Subscriber{Name: "Аня <3", Locale: "ru", TimeZone: "Europe/Moscow"},
		Payload:    map[string]any{"count": 5},
		Now:        time.Now(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.Format, out.Locale)
	fmt.Println(out.Text)
	fmt.Println(out.Buttons[0].ID, out.Buttons[0].Text, out.Buttons[1].ID, out.Buttons[1].Text)
	// Output:
	// html ru
	// <b>Аня &lt;3</b>, как вам 5 ужинов на этой неделе?
	// good 👍 bad 👎
}

// Segments of an SMS: Cyrillic needs UCS-2 (70 characters, 67 per part).
func ExampleCountSMS() {
	fmt.Printf("%+v\n", templates.CountSMS("Ваш заказ доставлен. Приятного аппетита!"))
	fmt.Printf("%+v\n", templates.CountSMS("Your order is on its way {ETA 18:00}"))
	// Output:
	// {Encoding:ucs2 Units:40 Segments:1}
	// {Encoding:gsm7 Units:38 Segments:1}
}
