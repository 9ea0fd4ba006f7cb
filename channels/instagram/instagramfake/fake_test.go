package instagramfake_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels/instagram/instagramfake"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

// The fake keeps Instagram's own rules whatever a client sends: only
// HUMAN_AGENT, RESPONSE, 1000 bytes of text, no button template, and 403
// IGApiException 10/2534022 outside the window.
func TestInstagramRules(t *testing.T) {
	f := instagramfake.New(instagramfake.Options{})
	defer f.Close()
	o := f.Options()
	send := func(body map[string]any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		st, ans := channeltest.Post(t, f.URL()+"/"+o.PageID+"/messages", "", b, map[string]string{"Authorization": "Bearer " + o.PageToken})
		var out struct {
			Error map[string]any `json:"error"`
		}
		_ = json.Unmarshal(ans, &out)
		return st, out.Error
	}
	msg := func(mt, tag string, m map[string]any) map[string]any {
		b := map[string]any{"recipient": map[string]string{"id": "ig1"}, "messaging_type": mt, "message": m}
		if tag != "" {
			b["tag"] = tag
		}
		return b
	}
	text := map[string]any{"text": "hi"}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   float64
	}{
		{"response", msg("RESPONSE", "", text), 200, 0},
		{"update is Messenger's", msg("UPDATE", "", text), 400, 100},
		{"post-purchase tag is Messenger's", msg("MESSAGE_TAG", "POST_PURCHASE_UPDATE", text), 400, 100},
		{"1001 bytes", msg("RESPONSE", "", map[string]any{"text": strings.Repeat("a", 1001)}), 400, 100},
		{"button template", msg("RESPONSE", "", map[string]any{"attachment": map[string]any{"type": "template",
			"payload": map[string]any{"template_type": "button", "text": "x", "buttons": []any{map[string]string{"type": "postback", "title": "a", "payload": "a"}}}}}), 400, 100},
	} {
		if st, e := send(tc.body); st != tc.status || (tc.code != 0 && e["code"] != tc.code) {
			t.Errorf("%s: %d %v", tc.name, st, e)
		}
	}
	f.CloseWindow("ig1")
	st, e := send(msg("RESPONSE", "", text))
	if st != 403 || e["code"] != 10.0 || e["error_subcode"] != 2534022.0 || e["type"] != "IGApiException" {
		t.Errorf("closed window: %d %v", st, e)
	}
	if st, _ := send(msg("MESSAGE_TAG", "HUMAN_AGENT", text)); st != 200 {
		t.Errorf("human agent tag outside the window: %d", st)
	}
	f.RateLimitedIn200()
	if st, e := send(msg("RESPONSE", "", text)); st != 200 || e["code"] != 613.0 {
		t.Errorf("refusal in 200: %d %v", st, e)
	}
	if n := len(f.Sent()); n != 2 {
		t.Errorf("%d accepted, want 2", n)
	}
}
