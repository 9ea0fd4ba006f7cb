package templates

import (
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

func TestCheckVariant(t *testing.T) {
	btn := func(n int, id, text string) []campaigns.Button {
		var bs []campaigns.Button
		for i := 0; i < n; i++ {
			bs = append(bs, campaigns.Button{ID: id, Text: text})
		}
		return bs
	}
	type pr struct{ path, rule string }
	for _, c := range []struct {
		name string
		ch   channels.Kind
		v    campaigns.Variant
		want []pr
	}{
		{"clean telegram", channels.Telegram, campaigns.Variant{Text: `<b>{{.Subscriber.Name}}</b>, <a href="https://x/?q={{.Payload.q}}">меню</a>`, Buttons: btn(2, "yes", "👍")}, nil},
		{"clean default for sms", channels.SMS, campaigns.Variant{Text: "Привет, {{.Subscriber.Name}}"}, nil},
		{"syntax", channels.SMS, campaigns.Variant{Text: "{{.Subscriber.Name"}, []pr{{"text", RuleSyntax}}},
		{"unknown function", channels.SMS, campaigns.Variant{Text: `{{readFile "/etc/passwd"}}`}, []pr{{"text", RuleSyntax}}},
		{"syntax in subject and button", channels.Email, campaigns.Variant{Subject: "{{if}}", Text: "x", Buttons: []campaigns.Button{{ID: "a", Text: "{{end}}"}}},
			[]pr{{"subject", RuleSyntax}, {"buttons[0].text", RuleSyntax}}},
		{"html syntax", channels.Email, campaigns.Variant{Subject: "s", Text: "x", HTML: "<p>{{.X</p>"}, []pr{{"html", RuleSyntax}}},
		{"telegram literal too long", channels.Telegram, campaigns.Variant{Text: strings.Repeat("я", 4097)}, []pr{{"text", RuleTextTooLong}}},
		{"telegram counts UTF-16 units", channels.Telegram, campaigns.Variant{Text: strings.Repeat("👍", 2049)}, []pr{{"text", RuleTextTooLong}}},
		{"telegram 2048 emoji fit", channels.Telegram, campaigns.Variant{Text: strings.Repeat("👍", 2048)}, nil},
		{"viber counts code points", channels.Viber, campaigns.Variant{Text: strings.Repeat("👍", 7000)}, nil},
		{"telegram markup not counted", channels.Telegram, campaigns.Variant{Text: "<b>" + strings.Repeat("я", 4096) + "</b>"}, nil},
		{"telegram actions not counted", channels.Telegram, campaigns.Variant{Text: strings.Repeat("я", 4000) + "{{if .Payload.x}}" + strings.Repeat("я", 200) + "{{end}}"}, nil},
		{"telegram caption", channels.Telegram, campaigns.Variant{Text: strings.Repeat("я", 1025), Image: "https://x/p.jpg"}, []pr{{"text", RuleCaptionTooLong}}},
		{"telegram unsupported tag", channels.Telegram, campaigns.Variant{Text: "<div>{{.Subscriber.Name}}</div>"}, []pr{{"text", RuleMarkup}}},
		{"telegram literal <", channels.Telegram, campaigns.Variant{Text: "1 < 2"}, []pr{{"text", RuleMarkup}}},
		{"telegram callback_data 65 bytes", channels.Telegram, campaigns.Variant{Text: "x", Buttons: btn(1, strings.Repeat("a", 65), "ok")}, []pr{{"buttons[0].id", RuleButtonID}}},
		{"telegram callback_data 64 bytes", channels.Telegram, campaigns.Variant{Text: "x", Buttons: btn(1, strings.Repeat("a", 64), "ok")}, nil},
		{"templated id", channels.Telegram, campaigns.Variant{Text: "x", Buttons: btn(1, "{{.Payload.id}}", "ok")}, []pr{{"buttons[0].id", RuleButtonID}}},
		{"button without id or url", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{Text: "ok"}}}, []pr{{"buttons[0]", RuleButtonKind}}},
		{"button with both", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: "a", URL: "https://x", Text: "ok"}}}, []pr{{"buttons[0]", RuleButtonKind}}},
		{"bad url", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{URL: "javascript:alert(1)", Text: "ok"}}}, []pr{{"buttons[0].url", RuleButtonURL}}},
		{"templated url not judged", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{URL: "{{.Payload.url}}", Text: "ok"}}}, nil},
		{"whatsapp 4 buttons", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: btn(4, "a", "ok")}, []pr{{"buttons", RuleTooManyButtons}}},
		{"whatsapp title 21", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: btn(1, "a", strings.Repeat("д", 21))}, []pr{{"buttons[0].text", RuleButtonText}}},
		{"whatsapp title 20 with action", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: btn(1, "a", strings.Repeat("д", 20)+"{{.Payload.x}}")}, nil},
		{"whatsapp id 257", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: btn(1, strings.Repeat("я", 257), "ok")}, []pr{{"buttons[0].id", RuleButtonID}}},
		{"whatsapp body 1025 with buttons", channels.WhatsApp, campaigns.Variant{Text: strings.Repeat("a", 1025), Buttons: btn(1, "a", "ok")}, []pr{{"text", RuleTextTooLong}}},
		{"whatsapp body 1025 without buttons", channels.WhatsApp, campaigns.Variant{Text: strings.Repeat("a", 1025)}, nil},
		{"whatsapp link button", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{URL: "https://x", Text: "ok"}}}, []pr{{"buttons[0].url", RuleButtonKind}}},
		{"whatsapp template incomplete", channels.WhatsApp, campaigns.Variant{Text: "x", WhatsAppTemplate: &campaigns.WhatsAppTemplate{Params: []string{"{{"}}},
			[]pr{{"whatsapp_template.name", RuleWhatsAppTmpl}, {"whatsapp_template.language", RuleWhatsAppTmpl}, {"whatsapp_template.params[0]", RuleSyntax}}},
		{"whatsapp template on telegram", channels.Telegram, campaigns.Variant{Text: "x", WhatsAppTemplate: &campaigns.WhatsAppTemplate{Name: "n", Language: "ru"}}, []pr{{"whatsapp_template", RuleWhatsAppTmpl}}},
		{"messenger 14 quick replies", channels.Messenger, campaigns.Variant{Text: "x", Buttons: btn(14, "a", "ok")}, []pr{{"buttons", RuleTooManyButtons}}},
		{"messenger 13 quick replies", channels.Messenger, campaigns.Variant{Text: "x", Buttons: btn(13, "a", "ok")}, nil},
		{"instagram 1000 bytes", channels.Instagram, campaigns.Variant{Text: strings.Repeat("ж", 500)}, nil},
		{"instagram 1002 bytes in 501 characters", channels.Instagram, campaigns.Variant{Text: strings.Repeat("ж", 501)}, []pr{{"text", RuleTextTooLong}}},
		{"instagram 14 quick replies", channels.Instagram, campaigns.Variant{Text: "x", Buttons: btn(14, "a", "ok")}, []pr{{"buttons", RuleTooManyButtons}}},
		{"messenger title 21", channels.Messenger, campaigns.Variant{Text: "x", Buttons: btn(1, "a", strings.Repeat("t", 21))}, []pr{{"buttons[0].text", RuleButtonText}}},
		{"viber 7001", channels.Viber, campaigns.Variant{Text: strings.Repeat("a", 7001)}, []pr{{"text", RuleTextTooLong}}},
		{"vk label 41", channels.VK, campaigns.Variant{Text: "x", Buttons: btn(1, "a", strings.Repeat("л", 41))}, []pr{{"buttons[0].text", RuleButtonText}}},
		{"vk payload 256", channels.VK, campaigns.Variant{Text: "x", Buttons: btn(1, strings.Repeat("p", 256), "ok")}, []pr{{"buttons[0].id", RuleButtonID}}},
		{"sms 7 segments of literal", channels.SMS, campaigns.Variant{Text: strings.Repeat("я", 6*67+1)}, []pr{{"text", RuleSMSSegments}}},
		{"sms 6 segments", channels.SMS, campaigns.Variant{Text: strings.Repeat("я", 6*67)}, nil},
		{"email without subject", channels.Email, campaigns.Variant{Text: "x"}, []pr{{"subject", RuleSubjectMissing}}},
		{"empty text", channels.Viber, campaigns.Variant{}, []pr{{"text", RuleEmptyText}}},
		{"image alone is fine", channels.Viber, campaigns.Variant{Image: "https://x/p.jpg"}, nil},
		{"define", channels.SMS, campaigns.Variant{Text: `{{define "x"}}y{{end}}z`}, []pr{{"text", RuleSyntax}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CheckVariant(c.ch, "ru", c.v)
			var gp []pr
			for _, p := range got {
				gp = append(gp, pr{p.Path, p.Rule})
				if p.Msg == "" {
					t.Errorf("problem %+v has no message", p)
				}
			}
			if len(gp) != len(c.want) {
				t.Fatalf("problems = %+v, want %v", got, c.want)
			}
			for i := range gp {
				if gp[i] != c.want[i] {
					t.Errorf("problem %d = %v, want %v (all: %+v)", i, gp[i], c.want[i], got)
				}
			}
		})
	}
}

func TestTelegramVisible(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"<b>a</b> &lt;b&gt; &amp; &#34;", `a <b> & "`, true},
		{`<a href="https://x?a=1&amp;b=2">link</a>`, "link", true},
		{`<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>`, "st", true},
		{"<pre><code class=\"language-go\">x</code></pre>", "x", true},
		{"<b><i>x</b></i>", "", false},
		{"<b>x", "", false},
		{"x</b>", "", false},
		{"<script>x</script>", "", false},
		{"a < b", "", false},
	} {
		got, err := telegramVisible(c.in, true)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("telegramVisible(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	tpl := campaigns.Template{
		"telegram": {"ru": {Text: "x", Buttons: []campaigns.Button{{ID: strings.Repeat("a", 65), Text: "ok"}}}},
		"default":  {"ru": {Text: "y", Buttons: []campaigns.Button{{ID: "1", Text: strings.Repeat("к", 21)}}}},
		"telgram":  {"ru": {Text: "z"}},
	}
	got := CheckTemplate("ask", tpl, []channels.Kind{channels.Telegram, channels.WhatsApp, channels.SMS}, []string{"ru", "en"})
	want := []Problem{
		{Path: "templates.ask.telgram", Rule: RuleUnknownChannel},
		{Path: "templates.ask.telegram.ru.buttons[0].id", Rule: RuleButtonID},
		{Path: "templates.ask.telegram", Rule: RuleMissingLocale},
		{Path: "templates.ask.default.ru.buttons[0].text", Rule: RuleButtonText},
		{Path: "templates.ask.default", Rule: RuleMissingLocale},
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%+v\nwant\n%+v", got, want)
	}
	for i := range want {
		if got[i].Path != want[i].Path || got[i].Rule != want[i].Rule {
			t.Errorf("problem %d = %+v, want %s %s", i, got[i], want[i].Path, want[i].Rule)
		}
	}
	if ps := CheckTemplate("ask", campaigns.Template{"sms": {"ru": {Text: "x"}}}, []channels.Kind{channels.Email}, []string{"ru"}); len(ps) != 1 || ps[0].Rule != RuleMissingVariant {
		t.Errorf("missing channel: %+v", ps)
	}
}
