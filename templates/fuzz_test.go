package templates

import (
	"errors"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// FuzzRender feeds arbitrary template sources and subscriber values to
// CheckVariant and Render on every channel: nothing may panic, and a
// subscriber name can never change Telegram markup.
func FuzzRender(f *testing.F) {
	for _, s := range [][3]string{
		{`<b>{{.Subscriber.Name}}</b>, {{plural .Payload.n "блюдо" "блюда" "блюд"}}`, "Аня", "5"},
		{`{{money .Payload.n "RUB"}} {{date .Now}} {{datetime .Payload.n}}`, "<b>", "1234.5"},
		{`{{range .Payload.list}}{{.}}{{end}}{{len .Subscriber.Name}}`, "{{", "x"},
		{`{{template "x"}}{{define "x"}}{{template "x"}}{{end}}`, "&", ""},
		{`{{printf "%0999999d" 1}}`, "\u202eשלום", "-1"},
		{`{{index .Payload "n" | upper | title}}{{slice .Subscriber.Name 1}}`, "🍲", "1e308"},
		{`<a href="{{.Payload.n}}">x</a>{{default "друг" (get .Payload "zz")}}`, `"><script>`, `javascript:alert(1)`},
		{`{{with $x := .Payload.n}}{{$x}}{{else}}none{{end}}{{.Subscriber.Attributes.plan}}`, "O'Neil", "2026-03-09"},
		{`{{time .Payload.n}}{{date .Payload.n "weekday"}}`, "x", "NaN"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	r := NewRenderer()
	probe := one("telegram", "ru", campaigns.Variant{Text: "<b>{{.Subscriber.Name}}</b>"})
	f.Fuzz(func(t *testing.T, src, name, value string) {
		v := campaigns.Variant{Text: src, Subject: src, HTML: src, Buttons: []campaigns.Button{{ID: "b", Text: src}}}
		d := Data{
			Subscriber: Subscriber{Name: name, Locale: value, TimeZone: value, Attributes: map[string]any{"plan": value}},
			Payload:    map[string]any{"n": value, "list": []any{value, name}},
			Now:        testNow,
		}
		for _, ch := range []channels.Kind{channels.Telegram, channels.WhatsApp, channels.SMS, channels.Email, channels.VK} {
			CheckVariant(ch, "ru", v)
			_, err := r.Render("", one(string(ch), "ru", v), "t", ch, d)
			var e *Error
			if err != nil && !errors.As(err, &e) {
				t.Fatalf("%s: error %v is not a *templates.Error", ch, err)
			}
		}
		out, err := r.Render("probe", probe, "t", channels.Telegram, d)
		if errors.Is(err, ErrLimit) && (len(name) > 4000 || name == "" || isBlank(name)) {
			return
		}
		if err != nil {
			t.Fatalf("name %q broke Telegram markup: %v", name, err)
		}
		vis, err := telegramVisible(out.Text, true)
		if err != nil || vis != name {
			t.Fatalf("name %q rendered as %q (visible %q, %v)", name, out.Text, vis, err)
		}
	})
}

func isBlank(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' && r != '\v' && r != '\f' && r != 0x85 && r != 0xA0 && !(r >= 0x2000 && r <= 0x200a) && r != 0x1680 && r != 0x2028 && r != 0x2029 && r != 0x202f && r != 0x205f && r != 0x3000 {
			return false
		}
	}
	return true
}
