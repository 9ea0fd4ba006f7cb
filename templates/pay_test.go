package templates

import (
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// A pay button is an invoice on Telegram (minor units, the text as its
// description when none is given, HTML removed) and its link elsewhere.
func TestRenderPayButton(t *testing.T) {
	v := campaigns.Variant{Text: "<b>{{.Subscriber.Name}}</b>, продлите подписку &amp; ужинайте", Buttons: []campaigns.Button{
		{Text: "Оплатить", URL: "https://shop.example/renew?c={{.Subscriber.ExternalID}}",
			Pay: &campaigns.Pay{Amount: "990.50", Currency: "RUB", Product: "weekly-box", Title: "Неделя ужинов", ValidFor: campaigns.Duration(48 * time.Hour)}}}}
	d := def(map[string]campaigns.Template{"t": {"default": {"ru": v}}})
	r := NewRenderer()
	tg, err := r.Render("v1", d, "t", channels.Telegram, data("Аня"))
	if err != nil {
		t.Fatal(err)
	}
	want := channels.Invoice{Title: "Неделя ужинов", Description: "Аня, продлите подписку & ужинайте", Currency: "RUB", Amount: 99050,
		Product: "weekly-box", ValidFor: 48 * time.Hour}
	if b := tg.Buttons[0]; b.Pay == nil || *b.Pay != want || b.URL != "https://shop.example/renew?c=c-1" || b.Text != "Оплатить" {
		t.Fatalf("telegram button %+v %+v", b, b.Pay)
	}
	sms, err := r.Render("v1", d, "t", channels.SMS, data("Аня"))
	if err != nil {
		t.Fatal(err)
	}
	if b := sms.Buttons[0]; b.Pay != nil || b.URL != "https://shop.example/renew?c=c-1" {
		t.Fatalf("sms button %+v", b)
	}
	v.Buttons[0].URL = ""
	d = def(map[string]campaigns.Template{"t": {"default": {"ru": v}}})
	if _, err := r.Render("v1", d, "t", channels.Viber, data("Аня")); err == nil {
		t.Error("a pay button without a url rendered for Viber")
	}
}
