package templates

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

var testNow = time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC) // Friday 18:00 in Moscow

func def(tpls map[string]campaigns.Template) *campaigns.Definition {
	return &campaigns.Definition{ID: "test", Templates: tpls}
}

func one(ch, loc string, v campaigns.Variant) *campaigns.Definition {
	return def(map[string]campaigns.Template{"t": {ch: {loc: v}}})
}

func data(name string) Data {
	return Data{Subscriber: Subscriber{ID: 1, ExternalID: "c-1", Name: name, Locale: "ru", TimeZone: "Europe/Moscow"}, Payload: map[string]any{}, Now: testNow}
}

// Hostile subscriber names: Telegram HTML keeps the author's markup and
// escapes every value; plain channels insert values unchanged; email HTML
// is escaped contextually.
func TestEscapingHostileNames(t *testing.T) {
	tg := one("telegram", "ru", campaigns.Variant{Text: `<b>Привет, {{.Subscriber.Name}}!</b> <a href="https://growfood.pro/menu?n={{.Subscriber.Name}}">Меню</a> {{upper .Subscriber.Name}}`})
	plain := one("default", "ru", campaigns.Variant{Text: `Привет, {{.Subscriber.Name}}!`})
	email := one("email", "ru", campaigns.Variant{Subject: "Привет, {{.Subscriber.Name}}", Text: "Привет, {{.Subscriber.Name}}!",
		HTML: `<p title="{{.Subscriber.Name}}">Привет, {{.Subscriber.Name}}! <a href="https://growfood.pro/?n={{.Subscriber.Name}}">меню</a></p>`})
	r := NewRenderer()
	for _, c := range []struct {
		name     string
		tgWant   string
		htmlWant string
	}{
		{`<b>`, `<b>Привет, &lt;b&gt;!</b> <a href="https://growfood.pro/menu?n=&lt;b&gt;">Меню</a> &lt;B&gt;`,
			`<p title="&lt;b&gt;">Привет, &lt;b&gt;! <a href="https://growfood.pro/?n=%3cb%3e">меню</a></p>`},
		{`{{.Subscriber.ID}}`, `<b>Привет, {{.Subscriber.ID}}!</b> <a href="https://growfood.pro/menu?n={{.Subscriber.ID}}">Меню</a> {{.SUBSCRIBER.ID}}`,
			`<p title="{{.Subscriber.ID}}">Привет, {{.Subscriber.ID}}! <a href="https://growfood.pro/?n=%7b%7b.Subscriber.ID%7d%7d">меню</a></p>`},
		{`Tom & Jerry`, `<b>Привет, Tom &amp; Jerry!</b> <a href="https://growfood.pro/menu?n=Tom &amp; Jerry">Меню</a> TOM &amp; JERRY`,
			`<p title="Tom &amp; Jerry">Привет, Tom &amp; Jerry! <a href="https://growfood.pro/?n=Tom%20%26%20Jerry">меню</a></p>`},
		{`"><script>alert(1)</script>`, `<b>Привет, &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;!</b> <a href="https://growfood.pro/menu?n=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">Меню</a> &#34;&gt;&lt;SCRIPT&gt;ALERT(1)&lt;/SCRIPT&gt;`,
			`<p title="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">Привет, &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;! <a href="https://growfood.pro/?n=%22%3e%3cscript%3ealert%281%29%3c%2fscript%3e">меню</a></p>`},
		{`Аня 🍲👍🏽`, `<b>Привет, Аня 🍲👍🏽!</b> <a href="https://growfood.pro/menu?n=Аня 🍲👍🏽">Меню</a> АНЯ 🍲👍🏽`,
			`<p title="Аня 🍲👍🏽">Привет, Аня 🍲👍🏽! <a href="https://growfood.pro/?n=%d0%90%d0%bd%d1%8f%20%f0%9f%8d%b2%f0%9f%91%8d%f0%9f%8f%bd">меню</a></p>`},
		{"\u202eשלום\u202c", "<b>Привет, \u202eשלום\u202c!</b> <a href=\"https://growfood.pro/menu?n=\u202eשלום\u202c\">Меню</a> \u202eשלום\u202c",
			"<p title=\"\u202eשלום\u202c\">Привет, \u202eשלום\u202c! <a href=\"https://growfood.pro/?n=%e2%80%ae%d7%a9%d7%9c%d7%95%d7%9d%e2%80%ac\">меню</a></p>"},
		{`O'Brien`, `<b>Привет, O&#39;Brien!</b> <a href="https://growfood.pro/menu?n=O&#39;Brien">Меню</a> O&#39;BRIEN`,
			`<p title="O&#39;Brien">Привет, O&#39;Brien! <a href="https://growfood.pro/?n=O%27Brien">меню</a></p>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.Render("v1", tg, "t", channels.Telegram, data(c.name))
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != c.tgWant || got.Format != channels.HTML {
				t.Errorf("telegram:\n got %s\nwant %s", got.Text, c.tgWant)
			}
			if _, err := telegramVisible(got.Text, true); err != nil {
				t.Errorf("telegram markup broken by a value: %v", err)
			}
			for _, ch := range []channels.Kind{channels.SMS, channels.Viber, channels.WhatsApp, channels.VK, channels.Messenger} {
				p, err := r.Render("v1", plain, "t", ch, data(c.name))
				if err != nil {
					t.Fatal(err)
				}
				if want := "Привет, " + c.name + "!"; p.Text != want || p.Format != channels.Plain {
					t.Errorf("%s: got %q, want %q", ch, p.Text, want)
				}
			}
			e, err := r.Render("v1", email, "t", channels.Email, data(c.name))
			if err != nil {
				t.Fatal(err)
			}
			if e.Text != "Привет, "+c.name+"!" || e.Subject != "Привет, "+c.name {
				t.Errorf("email plain parts escaped: %q / %q", e.Subject, e.Text)
			}
			if e.HTML != c.htmlWant {
				t.Errorf("email html:\n got %s\nwant %s", e.HTML, c.htmlWant)
			}
		})
	}
}

func TestVariantLookup(t *testing.T) {
	d := def(map[string]campaigns.Template{
		"t": {
			"telegram": {"en": {Text: "tg-en"}},
			"default":  {"ru": {Text: "def-ru"}, "en": {Text: "def-en"}, "de": {Text: "def-de"}},
		},
		"only-de":  {"default": {"de": {Text: "de"}, "fr": {Text: "fr"}}},
		"sms-only": {"sms": {"ru": {Text: "sms-ru"}}},
	})
	for _, c := range []struct {
		name, tpl string
		ch        channels.Kind
		locale    string
		want      string
		wantLoc   string
		err       error
	}{
		{"channel and locale", "t", channels.Telegram, "en", "tg-en", "en", nil},
		{"locale beats channel", "t", channels.Telegram, "ru", "def-ru", "ru", nil},
		{"region stripped", "t", channels.Telegram, "en_US", "tg-en", "en", nil},
		{"region to default", "t", channels.SMS, "ru-RU", "def-ru", "ru", nil},
		{"missing locale: en first", "t", channels.Telegram, "uk", "tg-en", "en", nil},
		{"missing locale on default", "t", channels.SMS, "uk", "def-en", "en", nil},
		{"empty locale", "t", channels.SMS, "", "def-en", "en", nil},
		{"first sorted when no en/ru", "only-de", channels.SMS, "uk", "de", "de", nil},
		{"exact other locale", "only-de", channels.SMS, "fr", "fr", "fr", nil},
		{"channel only", "sms-only", channels.SMS, "en", "sms-ru", "ru", nil},
		{"no variant for channel", "sms-only", channels.Telegram, "ru", "", "", ErrNoVariant},
		{"no template", "nope", channels.SMS, "ru", "", "", ErrNoTemplate},
	} {
		t.Run(c.name, func(t *testing.T) {
			dd := data("x")
			dd.Subscriber.Locale = c.locale
			got, err := NewRenderer().Render("v", d, c.tpl, c.ch, dd)
			if c.err != nil {
				var e *Error
				if !errors.Is(err, c.err) || !errors.As(err, &e) || e.Template != c.tpl || e.Channel != c.ch {
					t.Fatalf("err = %v, want %v naming the template and channel", err, c.err)
				}
				return
			}
			if err != nil || got.Text != c.want || got.Locale != c.wantLoc {
				t.Fatalf("got %q (%s), %v; want %q (%s)", got.Text, got.Locale, err, c.want, c.wantLoc)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	long := strings.Repeat("я", 4097)
	for _, c := range []struct {
		name string
		ch   channels.Kind
		v    campaigns.Variant
		sent error
		rule string
		part string
	}{
		{"missing key", channels.SMS, campaigns.Variant{Text: "{{.Payload.nope}}"}, ErrExec, "", "text"},
		{"missing attribute", channels.SMS, campaigns.Variant{Text: "{{.Subscriber.Attributes.plan}}"}, ErrExec, "", "text"},
		{"unknown field", channels.SMS, campaigns.Variant{Text: "{{.Subscriber.Password}}"}, ErrExec, "", "text"},
		{"unknown function", channels.SMS, campaigns.Variant{Text: `{{env "HOME"}}`}, ErrSyntax, RuleSyntax, "text"},
		{"call is not allowed", channels.SMS, campaigns.Variant{Text: `{{call .Payload.f}}`}, ErrSyntax, RuleSyntax, "text"},
		{"define is not allowed", channels.SMS, campaigns.Variant{Text: `{{define "subject"}}x{{end}}hi`}, ErrSyntax, RuleSyntax, "text"},
		{"template is not allowed", channels.SMS, campaigns.Variant{Text: `{{template "text"}}`}, ErrSyntax, RuleSyntax, "text"},
		{"range over number", channels.SMS, campaigns.Variant{Text: `{{range 1000000000}}{{end}}`}, ErrSyntax, RuleSyntax, "text"},
		{"bad syntax in button", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: "a", Text: "{{"}}}, ErrSyntax, RuleSyntax, "buttons[0].text"},
		{"output cap", channels.Email, campaigns.Variant{Subject: "s", Text: `{{range .Payload.many}}{{printf "%0100d" 1}}{{end}}`}, ErrExec, "", "text"},
		{"telegram text", channels.Telegram, campaigns.Variant{Text: long}, ErrLimit, RuleTextTooLong, "text"},
		{"telegram caption", channels.Telegram, campaigns.Variant{Text: strings.Repeat("я", 1025), Image: "https://x/p.jpg"}, ErrLimit, RuleCaptionTooLong, "text"},
		{"telegram callback data", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: strings.Repeat("я", 33), Text: "ok"}}}, ErrLimit, RuleButtonID, "buttons[0].id"},
		{"telegram unknown tag", channels.Telegram, campaigns.Variant{Text: "<div>x</div>"}, ErrLimit, RuleMarkup, "text"},
		{"telegram unclosed tag", channels.Telegram, campaigns.Variant{Text: "<b>x"}, ErrLimit, RuleMarkup, "text"},
		{"empty text", channels.Viber, campaigns.Variant{Text: "{{.Subscriber.Name}}"}, ErrLimit, RuleEmptyText, "text"},
		{"whatsapp buttons", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: "1", Text: "a"}, {ID: "2", Text: "b"}, {ID: "3", Text: "c"}, {ID: "4", Text: "d"}}}, ErrLimit, RuleTooManyButtons, "buttons"},
		{"whatsapp title", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: "1", Text: "{{.Payload.t}}"}}}, ErrLimit, RuleButtonText, "buttons[0].text"},
		{"whatsapp body with buttons", channels.WhatsApp, campaigns.Variant{Text: strings.Repeat("a", 1025), Buttons: []campaigns.Button{{ID: "1", Text: "a"}}}, ErrLimit, RuleTextTooLong, "text"},
		{"whatsapp link button", channels.WhatsApp, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{URL: "https://x", Text: "a"}}}, ErrLimit, RuleButtonKind, "buttons[0].url"},
		{"messenger quick replies", channels.Messenger, campaigns.Variant{Text: "x", Buttons: func() []campaigns.Button {
			var bs []campaigns.Button
			for i := 0; i < 14; i++ {
				bs = append(bs, campaigns.Button{ID: "b", Text: "t"})
			}
			return bs
		}()}, ErrLimit, RuleTooManyButtons, "buttons"},
		{"viber text", channels.Viber, campaigns.Variant{Text: strings.Repeat("a", 7001)}, ErrLimit, RuleTextTooLong, "text"},
		{"vk label", channels.VK, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: "a", Text: strings.Repeat("л", 41)}}}, ErrLimit, RuleButtonText, "buttons[0].text"},
		{"vk payload", channels.VK, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{ID: strings.Repeat("p", 256), Text: "ok"}}}, ErrLimit, RuleButtonID, "buttons[0].id"},
		{"sms segments", channels.SMS, campaigns.Variant{Text: strings.Repeat("я", 6*67+1)}, ErrLimit, RuleSMSSegments, "text"},
		{"email subject", channels.Email, campaigns.Variant{Text: "x"}, ErrLimit, RuleSubjectMissing, "subject"},
		{"button kind", channels.Telegram, campaigns.Variant{Text: "x", Buttons: []campaigns.Button{{Text: "a"}}}, ErrLimit, RuleButtonKind, "buttons[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := data("Аня")
			d.Subscriber.Name = ""
			d.Payload = map[string]any{"t": strings.Repeat("x", 21), "many": make([]int, 1000), "f": func() string { return "side effect" }}
			_, err := NewRenderer().Render("v", one(string(c.ch), "ru", c.v), "t", c.ch, d)
			var e *Error
			if !errors.Is(err, c.sent) || !errors.As(err, &e) {
				t.Fatalf("err = %v, want %v", err, c.sent)
			}
			if e.Rule != c.rule || e.Part != c.part || e.Template != "t" || e.Channel != c.ch || e.Locale != "ru" || e.Variant != string(c.ch) {
				t.Errorf("error = %+v (%v); want rule %q part %q", e, e, c.rule, c.part)
			}
		})
	}
}

func TestRenderSMSSegmentsAndOptions(t *testing.T) {
	d := one("sms", "ru", campaigns.Variant{Text: "{{.Payload.text}}"})
	dd := data("x")
	for _, c := range []struct {
		text string
		segs int
	}{{"Hi", 1}, {strings.Repeat("a", 161), 2}, {"Привет", 1}, {strings.Repeat("я", 71), 2}, {strings.Repeat("€", 81), 2}} {
		dd.Payload = map[string]any{"text": c.text}
		got, err := NewRenderer().Render("v", d, "t", channels.SMS, dd)
		if err != nil || got.Segments != c.segs {
			t.Errorf("%q: segments %d, %v; want %d", c.text, got.Segments, err, c.segs)
		}
	}
	dd.Payload = map[string]any{"text": strings.Repeat("a", 161)}
	if _, err := NewRenderer(WithMaxSMSSegments(1)).Render("v", d, "t", channels.SMS, dd); !errors.Is(err, ErrLimit) {
		t.Errorf("max segments 1: err = %v", err)
	}
	tg, err := NewRenderer().Render("v", one("telegram", "ru", campaigns.Variant{Text: "x"}), "t", channels.Telegram, dd)
	if err != nil || tg.Segments != 0 {
		t.Errorf("telegram segments = %d, %v", tg.Segments, err)
	}
}

func TestRenderFullVariant(t *testing.T) {
	d := one("whatsapp", "ru", campaigns.Variant{
		Text:    "{{.Subscriber.Name}}, как вам ужин?",
		Image:   " https://cdn.growfood.pro/{{.Payload.week}}.jpg ",
		Buttons: []campaigns.Button{{ID: "yes", Text: "👍 {{.Payload.yes}}"}, {ID: "no", Text: "👎"}},
		WhatsAppTemplate: &campaigns.WhatsAppTemplate{Name: "feedback_v1", Language: "ru",
			Params: []string{"{{.Subscriber.Name}}", `{{date .Now "short"}}`}},
		Tag: "ACCOUNT_UPDATE",
	})
	dd := data("Аня <3")
	dd.Payload = map[string]any{"week": 12, "yes": "Да"}
	got, err := NewRenderer().Render("v", d, "t", channels.WhatsApp, dd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "Аня <3, как вам ужин?" || got.ImageURL != "https://cdn.growfood.pro/12.jpg" || got.Tag != "" /* tags are Messenger's */ ||
		len(got.Buttons) != 2 || got.Buttons[0] != (channels.Button{ID: "yes", Text: "👍 Да"}) || got.Buttons[1].ID != "no" ||
		got.Template == nil || got.Template.Name != "feedback_v1" || strings.Join(got.Template.Params, "|") != "Аня <3|06.03.2026" {
		t.Errorf("rendered = %+v (template %+v)", got, got.Template)
	}
}

// The cache is keyed by version; parallel renders share clones safely and
// each gets its own subscriber's zone and locale.
func TestRenderConcurrent(t *testing.T) {
	d := def(map[string]campaigns.Template{"t": {"default": {
		"ru": {Text: `{{.Subscriber.Name}} {{time .Now}} {{money 1234.5 "RUB"}}`},
		"en": {Text: `{{.Subscriber.Name}} {{time .Now}} {{money 1234.5 "RUB"}}`},
	}}})
	r := NewRenderer()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				dd := data("Аня")
				want := "Аня 18:00 1 234,50 ₽"
				if (i+j)%2 == 0 {
					dd.Subscriber = Subscriber{Name: "Ann", Locale: "en", TimeZone: "America/New_York"}
					want = "Ann 10:00 AM ₽1,234.50"
				}
				got, err := r.Render("v1", d, "t", channels.Telegram, dd)
				if err != nil || got.Text != want {
					errs <- got.Text + " " + want
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestOutsideWindow(t *testing.T) {
	d := def(map[string]campaigns.Template{"t": {
		"whatsapp":  {"ru": {Text: "x", WhatsAppTemplate: &campaigns.WhatsAppTemplate{Name: "n", Language: "ru"}}},
		"messenger": {"en": {Text: "x", Tag: "ACCOUNT_UPDATE"}},
		"default":   {"ru": {Text: "x"}},
	}})
	if got := OutsideWindow(d, "t", "ru"); !got[channels.WhatsApp] || got[channels.Messenger] {
		t.Errorf("ru: %v (messenger falls to default/ru without a tag)", got)
	}
	if got := OutsideWindow(d, "t", "en"); got[channels.WhatsApp] != true || !got[channels.Messenger] {
		t.Errorf("en: %v", got)
	}
	if got := OutsideWindow(d, "missing", "ru"); len(got) != 0 && (got[channels.WhatsApp] || got[channels.Messenger]) {
		t.Errorf("missing template: %v", got)
	}
}

func TestRenderedMessage(t *testing.T) {
	r := Rendered{Channel: channels.WhatsApp, Text: "x", Format: channels.Plain, ImageURL: "https://x/p.jpg",
		Buttons: []channels.Button{{ID: "a", Text: "A"}}, Template: &channels.TemplateRef{Name: "n", Language: "ru"}, Tag: "T"}
	in := r.Message(false)
	if in.Template != nil || in.Tag != "" || in.Text != "x" || in.Channel != channels.WhatsApp || len(in.Buttons) != 1 || in.ImageURL == "" {
		t.Errorf("inside the window: %+v", in)
	}
	out := r.Message(true)
	if out.Template == nil || out.Tag != "T" {
		t.Errorf("outside the window: %+v", out)
	}
}

// A cached variant is found again by the subscriber locale as given, and
// distinct locales get distinct entries.
func TestRenderCacheByLocale(t *testing.T) {
	d := def(map[string]campaigns.Template{"t": {"default": {"ru": {Text: "ru"}, "en": {Text: "en"}}}})
	r := NewRenderer()
	for i := 0; i < 3; i++ {
		for loc, want := range map[string]string{"ru-RU": "ru", "en": "en", "de": "en", "": "en", "ru": "ru"} {
			dd := data("x")
			dd.Subscriber.Locale = loc
			got, err := r.Render("v1", d, "t", channels.SMS, dd)
			if err != nil || got.Text != want {
				t.Fatalf("locale %q: %q, %v; want %q", loc, got.Text, err, want)
			}
		}
	}
	if len(r.cache) != 5 {
		t.Errorf("cache has %d entries, want 5", len(r.cache))
	}
	dd := data("x")
	if _, err := r.Render("", d, "t", channels.SMS, dd); err != nil || len(r.cache) != 5 {
		t.Errorf("an empty version must not be cached: %v, %d entries", err, len(r.cache))
	}
}

// Every printing action is escaped, wherever it sits; declarations print nothing.
func TestTelegramEscapesNestedActions(t *testing.T) {
	src := `{{$n := .Subscriber.Name}}{{if $n}}<b>{{$n}}</b>{{else}}-{{end}}{{range .Payload.items}}<i>{{.}}</i>{{end}}` +
		`{{with .Payload.x}}{{.}}{{else with .Payload.y}}{{.}}{{end}}{{printf "%.2s" .Subscriber.Name}}{{- " & " -}}`
	d := data("<&>")
	d.Payload = map[string]any{"items": []any{"<a>", "b&c"}, "x": "", "y": `"q"`}
	got, err := NewRenderer().Render("v", one("telegram", "ru", campaigns.Variant{Text: src}), "t", channels.Telegram, d)
	if err != nil {
		t.Fatal(err)
	}
	want := `<b>&lt;&amp;&gt;</b><i>&lt;a&gt;</i><i>b&amp;c</i>&#34;q&#34;&lt;&amp; &amp; `
	if got.Text != want {
		t.Errorf("got  %s\nwant %s", got.Text, want)
	}
}

func TestEmailHTMLFromText(t *testing.T) {
	d := one("email", "ru", campaigns.Variant{Subject: "Чек", Text: "Здравствуйте, {{.Subscriber.Name}}!\nИтого: 100 ₽\n\nСпасибо.", Image: "https://cdn/x.jpg?a=1&b=2"})
	got, err := NewRenderer().Render("v", d, "t", channels.Email, data("<Аня>"))
	if err != nil {
		t.Fatal(err)
	}
	want := "<!DOCTYPE html>\n<html><body>\n<p><img src=\"https://cdn/x.jpg?a=1&amp;b=2\" alt=\"\" style=\"max-width:100%\"></p>\n" +
		"<p>Здравствуйте, &lt;Аня&gt;!<br>\nИтого: 100 ₽</p>\n<p>Спасибо.</p>\n</body></html>\n"
	if got.HTML != want {
		t.Errorf("HTML:\n%s\nwant\n%s", got.HTML, want)
	}
	if got.Text != "Здравствуйте, <Аня>!\nИтого: 100 ₽\n\nСпасибо." {
		t.Errorf("text = %q", got.Text)
	}
}
