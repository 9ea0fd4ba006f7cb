package messenger_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

// A weekly menu with three photos and a receipt: a generic template with
// one card per photo, the receipt as a file attachment, then the text with
// its quick replies, whose mid is the result.
func TestSendCarouselAndFile(t *testing.T) {
	s := newSetup(t)
	res := channeltest.Send(t, s.Client, channels.Message{To: "psid1", Text: "Меню недели", Images: channeltest.ImageURLs(3),
		Document: &channels.DocumentRef{URL: "https://shop.example/r/A-42.pdf"}, Buttons: []channels.Button{{ID: "renew", Text: "Продлить"}}})
	sent := s.Fake.Sent()
	if len(sent) != 3 || res.ProviderID != sent[2].MID {
		t.Fatalf("%d parts, result %+v: %+v", len(sent), res, sent)
	}
	att := sent[0].Body["message"].(map[string]any)["attachment"].(map[string]any)
	payload := att["payload"].(map[string]any)
	els := payload["elements"].([]any)
	if att["type"] != "template" || payload["template_type"] != "generic" || len(els) != 3 {
		t.Fatalf("carousel %v", att)
	}
	for i, x := range els {
		el := x.(map[string]any)
		if el["image_url"] != channeltest.ImageURLs(3)[i] || el["title"] != fmt.Sprintf("%d/3", i+1) {
			t.Errorf("card %d: %v", i, el)
		}
	}
	file := sent[1].Body["message"].(map[string]any)["attachment"].(map[string]any)
	if file["type"] != "file" || file["payload"].(map[string]any)["url"] != "https://shop.example/r/A-42.pdf" {
		t.Errorf("file %v", file)
	}
	if msg := sent[2].Body["message"].(map[string]any); msg["text"] != "Меню недели" || msg["quick_replies"] == nil {
		t.Errorf("text %v", msg)
	}
}

// Eleven photos are refused before a request; the fake refuses what Graph
// refuses in a generic template (no title, eleven elements, a relative image).
func TestCarouselLimits(t *testing.T) {
	s := newSetup(t)
	channeltest.WantRefused(t, s.Client, channels.Message{To: "p", Text: "x", Images: channeltest.ImageURLs(11)}, channels.Invalid, "nudge_limits", s.Fake.Accepted)
	for _, tc := range []struct {
		els  []map[string]any
		want string
	}{
		{[]map[string]any{{"image_url": "https://x.example/1.jpg"}}, "title"},
		{make([]map[string]any, 11), "1..10 elements"},
		{[]map[string]any{{"title": "a", "image_url": "/1.jpg"}}, "absolute"},
		{[]map[string]any{{"title": "a"}}, "besides title"},
	} {
		body := map[string]any{"recipient": map[string]string{"id": "p"}, "messaging_type": "UPDATE", "message": map[string]any{
			"attachment": map[string]any{"type": "template", "payload": map[string]any{"template_type": "generic", "elements": tc.els}}}}
		b, _ := json.Marshal(body)
		st, raw := channeltest.Post(t, s.Fake.URL()+"/me/messages?access_token="+s.Cfg.PageToken, "application/json", b, nil)
		if st != 400 || !strings.Contains(string(raw), tc.want) {
			t.Errorf("%v: %d %s, want %q", tc.els, st, raw, tc.want)
		}
	}
	if s.Fake.Accepted() != 0 {
		t.Errorf("%d sent", s.Fake.Accepted())
	}
}
