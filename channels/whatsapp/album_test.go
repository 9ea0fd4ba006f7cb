package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

func imageLink(s whatsappfake.Sent) (link, caption string) {
	img, _ := s.Body["image"].(map[string]any)
	link, _ = img["link"].(string)
	caption, _ = img["caption"].(string)
	return link, caption
}

// Inside the window an album goes image by image, in order: the text as the
// first image's caption without reply buttons; with them, after the images
// as the interactive message, whose id is the result.
func TestSendAlbumImageByImage(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{PairBurst: 10})
	imgs := channeltest.ImageURLs(3)
	channeltest.Send(t, s.Client, channels.Message{To: "79161234567", Text: "Меню недели", Images: imgs, Correlation: "k1"})
	res := channeltest.Send(t, s.Client, channels.Message{To: "79161234568", Text: "Меню недели", Images: imgs[:2],
		Buttons: []channels.Button{{ID: "renew", Text: "Продлить"}}})
	sent := s.Fake.Sent()
	if len(sent) != 6 {
		t.Fatalf("%d messages: %+v", len(sent), sent)
	}
	for i, u := range imgs {
		link, caption := imageLink(sent[i])
		if sent[i].Type != "image" || link != u || (i == 0) != (caption == "Меню недели") {
			t.Errorf("image %d: %+v", i, sent[i].Body)
		}
	}
	if sent[2].Correlation != "k1" || sent[0].Correlation != "" {
		t.Errorf("correlation on %q/%q, want the last image's", sent[0].Correlation, sent[2].Correlation)
	}
	for i, u := range imgs[:2] {
		if link, caption := imageLink(sent[3+i]); link != u || caption != "" {
			t.Errorf("buttons album image %d: %+v", i, sent[3+i].Body)
		}
	}
	if sent[5].Type != "interactive" || res.ProviderID != sent[5].ID {
		t.Errorf("text after the album: %+v, result %+v", sent[5], res)
	}
}

// With the fake's pair limit of one message per 6 s, the second image is
// refused (131056): the error says one part went, and the retry with
// SkipParts sends the rest only.
func TestAlbumResumesAfterThePairLimit(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	m := channels.Message{To: "79161234567", Text: "Меню", Images: channeltest.ImageURLs(2)}
	_, err := s.Client.Send(context.Background(), m)
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.PartsSent != 1 {
		t.Fatalf("first try: %v", err)
	}
	// A retry later (a fresh pair window: a fake without the limit).
	s2 := newSetup(t, whatsappfake.Options{PairInterval: -1})
	m.SkipParts = ce.PartsSent
	channeltest.Send(t, s2.Client, m)
	if len(s.Fake.Sent()) != 1 || len(s2.Fake.Sent()) != 1 {
		t.Fatalf("sent %d then %d, want 1 and 1", len(s.Fake.Sent()), len(s2.Fake.Sent()))
	}
	if link, _ := imageLink(s2.Fake.Sent()[0]); link != m.Images[1] {
		t.Errorf("resumed with %+v", s2.Fake.Sent()[0].Body)
	}
}

// Outside the window a carousel template carries the images as its cards'
// headers, each card's body parameters and the reply buttons as each card's
// quick replies (none at the top: a carousel's buttons are its cards'); the
// fake refuses a carousel with one card, another number of cards than the
// template's, a card short of parameters, or a card without a header image.
func TestCarouselTemplate(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{PairInterval: -1})
	card := whatsappfake.Card{Body: "{{1}} за {{2}} ₽", QuickReplies: []string{"Хочу"}}
	s.Fake.AddTemplate(whatsappfake.Template{Name: "weekly_menu", Language: "ru", Category: "MARKETING", Body: "Меню недели, {{1}}",
		Cards: []whatsappfake.Card{card, card, card}})
	s.Fake.CloseWindow("79161234567")
	imgs := channeltest.ImageURLs(3)
	cards := [][]string{{"Борщ", "350"}, {"Плов", "420"}, {"Сырники", "290"}}
	tpl := &channels.TemplateRef{Name: "weekly_menu", Language: "ru", Params: []string{"Аня"}, Carousel: true, Cards: cards}
	want := []channels.Button{{ID: "want", Text: "Хочу"}}
	channeltest.Send(t, s.Client, channels.Message{To: "79161234567", Text: "x", Images: imgs, Template: tpl, Buttons: want})
	sent := s.Fake.Sent()
	if len(sent) != 1 || sent[0].Type != "template" {
		t.Fatalf("sent %+v", sent)
	}
	body, _ := whatsapp.Payload(channels.Message{To: "79161234567", Images: imgs, Template: tpl, Buttons: want})
	raw, _ := json.Marshal(body["template"])
	var got struct {
		Components []struct {
			Type  string
			Cards []struct {
				CardIndex  int `json:"card_index"`
				Components []struct {
					Type       string
					SubType    string `json:"sub_type"`
					Index      string
					Parameters []map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Components) != 2 || got.Components[0].Type != "body" || got.Components[1].Type != "carousel" || len(got.Components[1].Cards) != 3 {
		t.Fatalf("components %s", raw)
	}
	for i, c := range got.Components[1].Cards {
		if c.CardIndex != i || len(c.Components) != 3 || c.Components[0].Type != "header" ||
			c.Components[1].Type != "body" || c.Components[1].Parameters[0]["text"] != cards[i][0] ||
			c.Components[2].Type != "button" || c.Components[2].Parameters[0]["payload"] != "want" {
			t.Errorf("card %d: %+v", i, c)
		}
	}
	for _, tc := range []struct {
		name string
		m    channels.Message
		code string
	}{
		{"two cards for a three-card template", channels.Message{Images: imgs[:2], Template: &channels.TemplateRef{Name: "weekly_menu", Language: "ru", Params: []string{"Аня"}, Carousel: true, Cards: cards[:2]}}, "132012"},
		{"a card without its parameters", channels.Message{Images: imgs, Template: &channels.TemplateRef{Name: "weekly_menu", Language: "ru", Params: []string{"Аня"}, Carousel: true, Cards: cards[:2]}}, "132000"},
	} {
		tc.m.To = "79161234567"
		_, err := s.Client.Send(context.Background(), tc.m)
		var ce *channels.Error
		if !errors.As(err, &ce) || ce.Kind != channels.Invalid || ce.Code != tc.code {
			t.Errorf("%s: %v, want Invalid %s", tc.name, err, tc.code)
		}
	}
	if _, err := s.Client.Send(context.Background(), channels.Message{To: "79161234567", Images: imgs[:1], Template: tpl}); channels.KindOf(err) != channels.Invalid || len(s.Fake.Sent()) != 1 {
		t.Errorf("a one-card carousel: %v, %d sent", err, len(s.Fake.Sent()))
	}
	bad := map[string]any{"messaging_product": "whatsapp", "to": "79161234567", "type": "template", "template": map[string]any{
		"name": "weekly_menu", "language": map[string]string{"code": "ru"}, "components": []map[string]any{
			{"type": "body", "parameters": []map[string]string{{"type": "text", "text": "Аня"}}},
			{"type": "carousel", "cards": []map[string]any{{"card_index": 0, "components": []map[string]any{}}, {"card_index": 1}}}}}}
	b, _ := json.Marshal(bad)
	o := s.Fake.Options()
	code, _ := channeltest.Post(t, s.Fake.URL()+"/"+o.PhoneNumberID+"/messages", "application/json", b,
		map[string]string{"Authorization": "Bearer " + o.Token})
	if code != 400 {
		t.Errorf("carousel without headers: HTTP %d, want 400", code)
	}
}
