package whatsapp_test

import (
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// A receipt rides in one message: with reply buttons as the header of the
// interactive message, without as a document captioned with the text, and
// alone as a bare document; an image beside it becomes a link.
func TestSendDocument(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{PairInterval: -1})
	doc := &channels.DocumentRef{URL: "https://shop.example/r/A-42.pdf?sig=9", Name: "Чек A-42.pdf"}
	for _, m := range []channels.Message{
		{To: "79161234567", Text: "Ваш чек", Document: doc, Buttons: []channels.Button{{ID: "ok", Text: "Спасибо"}}, Correlation: "k1"},
		{To: "79161234567", Text: "Ваш чек", Document: doc, ImageURL: "https://static.example/m.jpg"},
		{To: "79161234567", Document: doc},
	} {
		channeltest.Send(t, s.Client, m)
	}
	sent := s.Fake.Sent()
	if len(sent) != 3 {
		t.Fatalf("%d messages: %+v", len(sent), sent)
	}
	h, _ := sent[0].Body["interactive"].(map[string]any)["header"].(map[string]any)
	if sent[0].Type != "interactive" || h["type"] != "document" || sent[0].Correlation != "k1" {
		t.Errorf("with buttons: %+v", sent[0].Body)
	}
	d1, _ := sent[1].Body["document"].(map[string]any)
	if sent[1].Type != "document" || d1["caption"] != "Ваш чек\nhttps://static.example/m.jpg" || d1["filename"] != "Чек A-42.pdf" || d1["link"] != doc.URL {
		t.Errorf("captioned: %+v", sent[1].Body)
	}
	d2, _ := sent[2].Body["document"].(map[string]any)
	if sent[2].Type != "document" || d2["caption"] != nil || sent[2].Body["image"] != nil {
		t.Errorf("bare: %+v", sent[2].Body)
	}
}

// A caption over 1024 characters is refused before a request; the fake
// refuses a document without a link and a header of an unknown type.
func TestDocumentLimits(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	channeltest.WantRefused(t, s.Client, channels.Message{To: "79161234567", Text: strings.Repeat("ч", 1025),
		Document: &channels.DocumentRef{URL: "https://shop.example/r.pdf"}}, channels.Invalid, "nudge_limits", s.Fake.Accepted)
	for _, body := range []string{
		`{"messaging_product":"whatsapp","to":"79161234567","type":"document","document":{"filename":"a.pdf"}}`,
		`{"messaging_product":"whatsapp","to":"79161234567","type":"interactive","interactive":{"type":"button","header":{"type":"sticker"},"body":{"text":"x"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}}`,
	} {
		st, raw := channeltest.Post(t, s.Fake.URL()+"/"+s.Cfg.PhoneNumberID+"/messages", "application/json", []byte(body),
			map[string]string{"Authorization": "Bearer " + s.Cfg.Token})
		if st != 400 {
			t.Errorf("%s: %d %s", body, st, raw)
		}
	}
	if s.Fake.Accepted() != 0 {
		t.Errorf("%d sent", s.Fake.Accepted())
	}
}
