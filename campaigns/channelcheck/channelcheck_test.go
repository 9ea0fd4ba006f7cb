package channelcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

// base is the minimal clean campaign of the campaigns tests; each case edits it.
var base = func() string {
	b, err := os.ReadFile("../testdata/minimal.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func lintString(t *testing.T, src string) []string {
	t.Helper()
	f, _ := campaigns.Parse("c.yaml", []byte(src))
	var out []string
	for _, e := range Lint([]*campaigns.File{f}) {
		out = append(out, fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Rule))
	}
	return out
}

func TestTemplateRules(t *testing.T) {
	tests := []struct {
		rule string
		edit [][2]string
		want []string
	}{
		{rule: "button-limits telegram", edit: [][2]string{{"{text: hi}", "{text: hi, buttons: [{id: " + strings.Repeat("x", 65) + ", text: ok}]}"}},
			want: []string{"c.yaml:14:37: button-limits"}},
		{rule: "button-limits whatsapp", edit: [][2]string{{"[telegram]", "[whatsapp]"}, {"    telegram:\n      ru: {text: hi}", "    whatsapp:\n      ru:\n        text: hi\n        whatsapp_template: {name: x, language: ru}\n        buttons: [{id: a, text: a}, {id: b, text: b}, {id: c, text: c}, {id: d, text: Twenty-one characters}]"}},
			want: []string{"c.yaml:17:18: button-limits", "c.yaml:17:87: button-limits"}},
		{rule: "button-limits kind", edit: [][2]string{{"{text: hi}", "{text: hi, buttons: [{text: ok}]}"}},
			want: []string{"c.yaml:14:32: button-limits"}},
		{rule: "channel-limits", edit: [][2]string{{"{text: hi}", "{text: " + strings.Repeat("я", 4097) + "}"}},
			want: []string{"c.yaml:14:18: channel-limits"}},
		{rule: "template-syntax", edit: [][2]string{{"{text: hi}", "{text: \"{{frobnicate .Subscriber.Name}}\"}"}},
			want: []string{"c.yaml:14:18: template-syntax"}},
		{rule: "required-field subject", edit: [][2]string{{"[telegram]", "[email]"}, {"    telegram:\n", "    email:\n"}},
			want: []string{"c.yaml:14:11: required-field"}},
		// The sample render: a misspelt subscriber field, an undeclared
		// payload key or attribute, each at the field in the template text.
		{rule: "template-render misspelt field", edit: [][2]string{{"{text: hi}", "{text: \"Hi {{.Subscriber.Nme}}\"}"}},
			want: []string{"c.yaml:14:24: template-render"}},
		{rule: "template-render undeclared payload", edit: [][2]string{{"      ru: {text: hi}", "      ru:\n        text: |-\n          Order\n          №{{.Payload.order_id}} paid"}},
			want: []string{"c.yaml:17:14: template-render"}},
		{rule: "template-render declared payload is clean", edit: [][2]string{{"api: {}", "api: {payload: {order_id: string, total: number, paid_at: time, items: [{name: string}]}}"},
			{"{text: hi}", "{text: \"{{.Payload.order_id}} {{money .Payload.total \\\"RUB\\\"}} {{date .Payload.paid_at}}{{range .Payload.items}} {{.name}}{{end}} {{.Payload.trigger}}\"}"}},
			want: nil},
		{rule: "template-render wrong type", edit: [][2]string{{"api: {}", "api: {payload: {total: string}}"}, {"{text: hi}", "{text: \"{{money .Payload.total \\\"RUB\\\"}}\"}"}},
			want: []string{"c.yaml:14:21: template-render"}},
		{rule: "template-render undeclared attribute", edit: [][2]string{{"topic: service\n", "topic: service\nattributes: {plan: string}\n"}, {"{text: hi}", "{text: \"{{.Subscriber.Attributes.plan}} {{.Subscriber.Attributes.city}}\"}"}},
			want: []string{"c.yaml:15:53: template-render"}},
		{rule: "template-render link button needs a url field", edit: [][2]string{{"api: {}", "api: {payload: {link: string, ok: url}}"},
			{"{text: hi}", "{text: hi, buttons: [{text: a, url: \"{{.Payload.link}}\"}, {text: b, url: \"{{.Payload.ok}}\"}]}"}},
			want: []string{"c.yaml:14:47: template-render"}},
		// Keyword branches of opposite meaning sharing a word: a warning at
		// the later keyword; the same word going the same way, or a neutral
		// keyword, is no overlap.
		{rule: "keyword-overlap", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n  - id: r\n    wait_reply: {timeout: 1d, branches: [{keywords: [понравилось], goto: s}, {keywords: [позвоните, не понравилось], goto: r}]}\n"}},
			want: []string{"c.yaml:12:101: keyword-overlap"}},
		{rule: "keyword-overlap same way is clean", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n  - id: r\n    wait_reply: {timeout: 1d, branches: [{keywords: [понравилось], goto: s}, {keywords: [очень понравилось], goto: s}, {keywords: [позвоните], goto: r}]}\n"}},
			want: nil},
		{rule: "template-syntax unclosed <b> in Telegram HTML", edit: [][2]string{{"{text: hi}", "{text: \"<b>Hi</b> <i>{{.Subscriber.Name}}\"}"}},
			want: []string{"c.yaml:14:29: template-syntax"}},
		{rule: "template-render and template-syntax in one variant", edit: [][2]string{{"      ru: {text: hi}", "      ru:\n        text: |-\n          Привет, {{.Subscriber.Nme}}!\n          <b>Меню недели"}},
			want: []string{"c.yaml:16:21: template-render", "c.yaml:17:11: template-syntax"}},
		{rule: "template-syntax unclosed <b> in email HTML", edit: [][2]string{{"[telegram]", "[email]"}, {"    telegram:\n      ru: {text: hi}", "    email:\n      ru:\n        subject: s\n        text: hi\n        html: |-\n          <p>Hi <b>{{.Subscriber.Name}}</p>"}},
			want: []string{"c.yaml:18:17: template-syntax"}},
		{rule: "template-syntax balanced email HTML with void and optional tags", edit: [][2]string{{"[telegram]", "[email]"}, {"    telegram:\n      ru: {text: hi}", "    email:\n      ru:\n        subject: s\n        text: hi\n        html: '<p>Hi<br><img src=\"https://x/y.png\"/><ul><li>a<li>b</ul><b>{{.Subscriber.Name}}</b>'"}},
			want: nil},
		// Media: an eleventh photo at the images list, a .docx on
		// Telegram and a relative image at their own entries.
		{rule: "media-limits album", edit: [][2]string{{"{text: hi}", "{text: hi, images: [" + strings.Repeat("\"https://x.example/p.jpg\", ", 10) + "\"https://x.example/p.jpg\"]}"}},
			want: []string{"c.yaml:14:30: media-limits"}},
		{rule: "media-limits document and image url", edit: [][2]string{{"{text: hi}", "{text: hi, images: [/a.jpg, \"https://x.example/b.jpg\"], document: {url: \"https://x.example/menu.docx\"}}"}},
			want: []string{"c.yaml:14:31: media-limits", "c.yaml:14:83: media-limits"}},
		{rule: "media-limits clean album and receipt", edit: [][2]string{{"{text: hi}", "{text: hi, images: [\"https://x.example/a.jpg\", \"https://x.example/b.jpg\"], document: {url: \"https://x.example/r.pdf\", name: Чек.pdf}}"}},
			want: nil},
		{rule: "invalid-value declared type", edit: [][2]string{{"api: {}", "api: {payload: {order_id: strng}}"}},
			want: []string{"c.yaml:5:29: invalid-value"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			src := base
			for _, e := range tt.edit {
				if !strings.Contains(src, e[0]) {
					t.Fatalf("edit %q does not apply", e[0])
				}
				src = strings.Replace(src, e[0], e[1], 1)
			}
			got := lintString(t, src)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %q\nwant %q\n%s", got, tt.want, src)
			}
		})
	}
}

func TestExamplesCleanWithTemplateRules(t *testing.T) {
	paths, _ := filepath.Glob("../../examples/growfood/*.yaml")
	paths = append(paths, "../testdata/schema/all-features.yaml")
	var files []*campaigns.File
	for _, p := range paths {
		f, err := campaigns.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) != 4 {
		t.Fatalf("files: %v", paths)
	}
	for _, e := range Lint(files) {
		t.Errorf("%v (hint: %s)", e, e.Hint)
	}
}
