package templates

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

var menuVariant = campaigns.Variant{
	Text:     "Меню недели для {{.Subscriber.Name}}",
	Images:   []string{"https://static.example/1.jpg", "https://static.example/{{.Payload.week}}/2.jpg", "https://static.example/3.jpg?a=1&b=2"},
	Document: &campaigns.Document{URL: "https://shop.example/receipts/{{.Payload.order}}.pdf", Name: "Чек {{.Payload.order}}.pdf"},
}

// One album, folded per channel: Telegram, VK and WhatsApp (image by
// image) get it as an album with the receipt as a file, Viber a
// carousel with the receipt as a file, SMS the first photo (MMS) and links
// for the rest, email every image in its HTML part.
func TestRenderAlbumPerChannel(t *testing.T) {
	r := NewRenderer()
	d := data("Аня")
	d.Payload = map[string]any{"week": "w49", "order": "A-42"}
	imgs := []string{"https://static.example/1.jpg", "https://static.example/w49/2.jpg", "https://static.example/3.jpg?a=1&b=2"}
	doc := &channels.DocumentRef{URL: "https://shop.example/receipts/A-42.pdf", Name: "Чек A-42.pdf"}
	for _, c := range []struct {
		ch       channels.Kind
		images   []string
		image    string
		doc      *channels.DocumentRef
		textTail string
	}{
		{channels.Telegram, imgs, "", doc, "Аня"},
		{channels.VK, imgs, "", doc, "Аня"},
		{channels.WhatsApp, imgs, "", doc, "Аня"},
		{channels.Viber, imgs, "", doc, "Аня"},
		{channels.SMS, nil, imgs[0], nil, "Аня\n" + imgs[1] + "\n" + imgs[2] + "\nЧек A-42.pdf: https://shop.example/receipts/A-42.pdf"},
	} {
		got, err := r.Render("v1", one("default", "ru", menuVariant), "t", c.ch, d)
		if err != nil {
			t.Fatalf("%s: %v", c.ch, err)
		}
		if !reflect.DeepEqual(got.Images, c.images) || got.ImageURL != c.image || !reflect.DeepEqual(got.Document, c.doc) || !strings.HasSuffix(got.Text, c.textTail) {
			t.Errorf("%s: images %v image %q doc %+v text %q", c.ch, got.Images, got.ImageURL, got.Document, got.Text)
		}
		m := got.Message(false)
		if !reflect.DeepEqual(m.Images, got.Images) || m.Document != got.Document {
			t.Errorf("%s: message %+v", c.ch, m)
		}
	}
	// Telegram HTML escapes the links it appends; email shows every photo.
	tg, err := r.Render("", one("telegram", "ru", campaigns.Variant{Text: "<b>Меню</b>", Image: "https://static.example/1.jpg", Images: []string{"https://static.example/2.jpg?a=1&b=2"},
		Document: &campaigns.Document{URL: "https://shop.example/menu.pdf"}}), "t", channels.Telegram, d)
	if err != nil || len(tg.Images) != 2 || tg.Document == nil {
		t.Errorf("telegram: %+v %v", tg, err)
	}
	email, err := r.Render("", one("email", "ru", campaigns.Variant{Subject: "Меню", Text: "Меню", Images: imgs[:2]}), "t", channels.Email, d)
	if err != nil || strings.Count(email.HTML, "<img") != 2 {
		t.Errorf("email html: %q %v", email.HTML, err)
	}
	sms, err := r.Render("", one("sms", "ru", campaigns.Variant{Text: "Меню <>", Images: []string{"https://static.example/1.jpg", "https://static.example/2.jpg?a=1&b=2"}}), "t", channels.SMS, d)
	if err != nil || sms.ImageURL != imgs[0] || sms.Text != "Меню <>\nhttps://static.example/2.jpg?a=1&b=2" {
		t.Errorf("sms: %+v %v", sms, err)
	}
}

// The limits of each channel hold on what a variant lists and on what it
// renders to: eleven photos, a Telegram .docx, a relative image.
func TestMediaLimits(t *testing.T) {
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "https://static.example/p.jpg"
	}
	for _, c := range []struct {
		ch   channels.Kind
		v    campaigns.Variant
		path string
		rule string
	}{
		{channels.Telegram, campaigns.Variant{Text: "x", Images: eleven}, "images", RuleAlbumSize},
		{channels.WhatsApp, campaigns.Variant{Text: "x", Images: eleven}, "images", RuleAlbumSize},
		{channels.Telegram, campaigns.Variant{Text: "x", Document: &campaigns.Document{URL: "https://shop.example/menu.docx"}}, "document.url", RuleDocumentType},
		{channels.VK, campaigns.Variant{Text: "x", Images: []string{"/menu.jpg", "https://static.example/p.jpg"}}, "images[0]", RuleMediaURL},
		{channels.Email, campaigns.Variant{Subject: "s", Text: "x", Document: &campaigns.Document{URL: "ftp://x.example/a.pdf"}}, "document.url", RuleMediaURL},
	} {
		ps := CheckVariant(c.ch, "ru", c.v)
		if !hasProblem(ps, c.path, c.rule) {
			t.Errorf("%s %+v: problems %+v, want %s at %s", c.ch, c.v, ps, c.rule, c.path)
		}
		_, err := NewRenderer().Render("", one("default", "ru", c.v), "t", c.ch, data("Аня"))
		var re *Error
		if !errors.As(err, &re) || re.Rule != c.rule {
			t.Errorf("%s render: %v, want rule %s", c.ch, err, c.rule)
		}
	}
	// A carousel template takes one card per image, 2-10 of them.
	car := campaigns.Variant{Text: "Меню", Images: []string{"https://static.example/p.jpg"},
		WhatsAppTemplate: &campaigns.WhatsAppTemplate{Name: "weekly_menu", Language: "ru", Carousel: true}}
	if ps := CheckVariant(channels.WhatsApp, "ru", car); !hasProblem(ps, "whatsapp_template.carousel", RuleWhatsAppTmpl) {
		t.Errorf("one-image carousel: %+v", ps)
	}
	car.Images = append(car.Images, "https://static.example/q.jpg")
	if ps := CheckVariant(channels.WhatsApp, "ru", car); hasProblem(ps, "whatsapp_template.carousel", RuleWhatsAppTmpl) {
		t.Errorf("two-image carousel: %+v", ps)
	}
	// Cards give each card's body its parameters, rendered like the
	// template's; more cards than images, or cards without carousel: true,
	// are refused before any send.
	car.WhatsAppTemplate.Cards = []campaigns.TemplateCard{{Params: []string{"Борщ", "{{.Subscriber.Name}}"}}, {Params: []string{"Плов"}}}
	got, err := NewRenderer().Render("", one("whatsapp", "ru", car), "t", channels.WhatsApp, data("Аня"))
	if err != nil || !reflect.DeepEqual(got.Template.Cards, [][]string{{"Борщ", "Аня"}, {"Плов"}}) {
		t.Errorf("carousel cards: %+v, %v", got.Template, err)
	}
	three := car
	three.WhatsAppTemplate = &campaigns.WhatsAppTemplate{Name: "weekly_menu", Language: "ru", Carousel: true,
		Cards: append(car.WhatsAppTemplate.Cards, campaigns.TemplateCard{})}
	if ps := CheckVariant(channels.WhatsApp, "ru", three); !hasProblem(ps, "whatsapp_template.cards", RuleWhatsAppTmpl) {
		t.Errorf("three cards for two images: %+v", ps)
	}
	plain := car
	plain.WhatsAppTemplate = &campaigns.WhatsAppTemplate{Name: "weekly_menu", Language: "ru", Cards: car.WhatsAppTemplate.Cards}
	if ps := CheckVariant(channels.WhatsApp, "ru", plain); !hasProblem(ps, "whatsapp_template.cards", RuleWhatsAppTmpl) {
		t.Errorf("cards without carousel: true: %+v", ps)
	}
	bad := car
	bad.WhatsAppTemplate = &campaigns.WhatsAppTemplate{Name: "weekly_menu", Language: "ru", Carousel: true,
		Cards: []campaigns.TemplateCard{{Params: []string{"{{.Nope"}}}}
	if ps := CheckVariant(channels.WhatsApp, "ru", bad); len(ps) == 0 || ps[0].Path != "whatsapp_template.cards[0].params[0]" {
		t.Errorf("a card parameter that does not parse: %+v", ps)
	}
	// A receipt whose URL is a template is checked once rendered.
	v := campaigns.Variant{Text: "Чек", Document: &campaigns.Document{URL: "https://shop.example/r/{{.Payload.file}}"}}
	if ps := CheckVariant(channels.Telegram, "ru", v); len(ps) != 0 {
		t.Errorf("templated document: %+v", ps)
	}
	d := data("Аня")
	d.Payload = map[string]any{"file": "a.xlsx"}
	if _, err := NewRenderer().Render("", one("telegram", "ru", v), "t", channels.Telegram, d); !errors.Is(err, ErrLimit) {
		t.Errorf("rendered xlsx on telegram: %v", err)
	}
}

func hasProblem(ps []Problem, path, rule string) bool {
	for _, p := range ps {
		if p.Path == path && p.Rule == rule {
			return true
		}
	}
	return false
}
