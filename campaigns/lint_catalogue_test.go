package campaigns

import (
	"strings"
	"testing"
)

// catalogueBase sends one WhatsApp template; each case edits it.
const catalogueBase = `id: c
name: C
topic: service
trigger:
  api: {}
settings:
  channels: [whatsapp]
steps:
  - id: s
    send: {template: t}
templates:
  t:
    whatsapp:
      ru:
        text: hi
        whatsapp_template:
          name: renewal
          language: ru
          params: ["{{.Subscriber.Name}}"]
`

var testCatalogue = &WhatsAppCatalogue{Templates: []CatalogueTemplate{
	{Account: "main", Name: "renewal", Language: "ru", Category: "UTILITY", Status: "APPROVED", BodyParams: 1},
	{Account: "main", Name: "renewal", Language: "en", Category: "UTILITY", Status: "APPROVED", BodyParams: 1},
	{Account: "main", Name: "promo", Language: "ru", Category: "MARKETING", Status: "APPROVED", BodyParams: 1},
	{Account: "main", Name: "paused", Language: "ru", Category: "UTILITY", Status: "PAUSED", BodyParams: 1},
	{Account: "main", Name: "tracked", Language: "ru", Category: "UTILITY", Status: "APPROVED", BodyParams: 1, ButtonParams: 1},
	{Account: "main", Name: "menu", Language: "ru", Category: "MARKETING", Status: "APPROVED", BodyParams: 1, CardParams: []int{1, 1}},
	// The second number's business account approves its own templates.
	{Account: "brand-b", Name: "renewal_b", Language: "ru", Category: "UTILITY", Status: "APPROVED", BodyParams: 1},
	{Account: "brand-b", Name: "paused", Language: "ru", Category: "UTILITY", Status: "APPROVED", BodyParams: 1},
}}

// carousel makes the variant a two-image carousel of template menu with a
// parameter per card; cards is its cards line.
var carousel = [][2]string{{"name: renewal", "name: menu"}, {"topic: service", "topic: marketing"},
	{"text: hi", "text: hi\n        images: [\"https://x.example/1.jpg\", \"https://x.example/2.jpg\"]"},
	{`params: ["{{.Subscriber.Name}}"]`, `params: ["{{.Subscriber.Name}}"]` + "\n          carousel: true\n          cards: [{params: [\"a\"]}, {params: [\"b\"]}]"}}

// brandB makes the campaign send WhatsApp through the number brand-b.
var brandB = [2]string{"  channels: [whatsapp]", "  channels: [whatsapp]\n  accounts: {whatsapp: brand-b}"}

func lintCatalogue(t *testing.T, src string, c *WhatsAppCatalogue) []LintError {
	t.Helper()
	f, _ := Parse("c.yaml", []byte(src))
	if f == nil {
		t.Fatal("Parse returned nil file")
	}
	return (&Linter{WhatsApp: c}).Lint([]*File{f})
}

func TestLintCatalogue(t *testing.T) {
	tests := []struct {
		rule string
		edit [][2]string
		cat  *WhatsAppCatalogue
		want []string // file:line:col: rule (severity)
		msg  string   // in the first problem's message
	}{
		{rule: "whatsapp-template clean", cat: testCatalogue},
		{rule: "whatsapp-template unknown name", edit: [][2]string{{"name: renewal", "name: renewl"}}, cat: testCatalogue,
			want: []string{"c.yaml:17:17: whatsapp-template "}, msg: `"renewl" does not exist`},
		{rule: "whatsapp-template wrong language", edit: [][2]string{{"language: ru", "language: de"}}, cat: testCatalogue,
			want: []string{"c.yaml:18:21: whatsapp-template "}, msg: `no "de" translation`},
		{rule: "whatsapp-template parameter count", edit: [][2]string{{`params: ["{{.Subscriber.Name}}"]`, `params: ["a", "b"]`}}, cat: testCatalogue,
			want: []string{"c.yaml:19:19: whatsapp-template "}, msg: "takes 1 body parameters, the variant gives 2"},
		{rule: "whatsapp-template no params", edit: [][2]string{{"\n          params: [\"{{.Subscriber.Name}}\"]", ""}}, cat: testCatalogue,
			want: []string{"c.yaml:17:11: whatsapp-template "}, msg: "the variant gives 0"},
		{rule: "whatsapp-template not approved", edit: [][2]string{{"name: renewal", "name: paused"}}, cat: testCatalogue,
			want: []string{"c.yaml:17:17: whatsapp-template "}, msg: "is PAUSED, not APPROVED"},
		{rule: "whatsapp-template marketing for service", edit: [][2]string{{"name: renewal", "name: promo"}}, cat: testCatalogue,
			want: []string{"c.yaml:17:17: whatsapp-template "}, msg: "MARKETING template, but the campaign's topic is service"},
		{rule: "whatsapp-template marketing for marketing", edit: [][2]string{{"name: renewal", "name: promo"}, {"topic: service", "topic: marketing"}}, cat: testCatalogue},
		{rule: "whatsapp-template url button", edit: [][2]string{{"name: renewal", "name: tracked"}}, cat: testCatalogue,
			want: []string{"c.yaml:17:17: whatsapp-template "}, msg: "URL-button parameters"},
		{rule: "whatsapp-template main's template on brand-b", edit: [][2]string{brandB}, cat: testCatalogue,
			want: []string{"c.yaml:18:17: whatsapp-template "}, msg: `"renewal" does not exist in the synced catalogue of account brand-b`},
		{rule: "whatsapp-template brand-b's own template", edit: [][2]string{brandB, {"name: renewal", "name: renewal_b"}}, cat: testCatalogue},
		{rule: "whatsapp-template brand-b's template from main", edit: [][2]string{{"name: renewal", "name: renewal_b"}}, cat: testCatalogue,
			want: []string{"c.yaml:17:17: whatsapp-template "}, msg: "catalogue of account main"},
		{rule: "whatsapp-template approved on brand-b, paused on main", edit: [][2]string{brandB, {"name: renewal", "name: paused"}}, cat: testCatalogue},
		{rule: "whatsapp-template carousel", edit: carousel, cat: testCatalogue},
		{rule: "whatsapp-template carousel card without its parameter", edit: append(carousel[:len(carousel):len(carousel)], [2]string{`{params: ["b"]}`, "{}"}),
			cat: testCatalogue, want: []string{"c.yaml:22:18: whatsapp-template "}, msg: "card 2 of WhatsApp template \"menu\" (ru) takes 1 body parameters, the variant gives 0"},
		{rule: "whatsapp-template carousel of three images", edit: append(carousel[:len(carousel):len(carousel)], [2]string{`2.jpg"]`, `2.jpg", "https://x.example/3.jpg"]`}),
			cat: testCatalogue, want: []string{"c.yaml:21:21: whatsapp-template "}, msg: "has 2 cards, the variant gives 3 images"},
		{rule: "whatsapp-template carousel without carousel: true", edit: append(carousel[:len(carousel):len(carousel)], [2]string{"carousel: true", "carousel: false"}),
			cat: testCatalogue, want: []string{"c.yaml:18:17: whatsapp-template "}, msg: "is a media card carousel of 2 cards"},
		{rule: "whatsapp-template unavailable", cat: &WhatsAppCatalogue{Unavailable: "no database (NUDGE_DATABASE_URL is not set)"},
			want: []string{"c.yaml:17:17: whatsapp-template warning"}, msg: "1 WhatsApp template reference not checked: no database"},
		{rule: "whatsapp-template no catalogue given", cat: nil},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			errs := lintCatalogue(t, edited(t, catalogueBase, tt.edit), tt.cat)
			var got []string
			for _, e := range errs {
				got = append(got, strings.Join([]string{short([]LintError{e})[0], e.Severity}, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("lint:\n got %q\nwant %q\n%v", got, tt.want, errs)
			}
			if tt.msg != "" && !strings.Contains(errs[0].Msg, tt.msg) {
				t.Fatalf("message %q lacks %q", errs[0].Msg, tt.msg)
			}
		})
	}
}

// edited applies replacements to src in order; each must apply.
func TestLintLoadsTheCatalogueEachTime(t *testing.T) {
	f, _ := Parse("c.yaml", []byte(edited(t, catalogueBase, [][2]string{{"name: renewal", "name: paused"}})))
	var cat *WhatsAppCatalogue // nil: nothing synced yet
	l := &Linter{LoadWhatsApp: func() *WhatsAppCatalogue { return cat }}
	if errs := l.Lint([]*File{f}); len(errs) != 0 {
		t.Fatalf("without a catalogue: %v", errs)
	}
	cat = testCatalogue
	if errs := l.Lint([]*File{f}); len(errs) != 1 || errs[0].Rule != "whatsapp-template" {
		t.Fatalf("after a sync: %v", errs)
	}
}
