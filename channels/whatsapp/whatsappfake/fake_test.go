package whatsappfake_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

func post(t *testing.T, f *whatsappfake.Server, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	st, ans := channeltest.Post(t, f.URL()+"/"+f.Options().PhoneNumberID+"/messages", "", b, map[string]string{"Authorization": "Bearer " + token})
	var out map[string]any
	_ = json.Unmarshal(ans, &out)
	return st, out
}

func code(out map[string]any) float64 {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return c
}

func TestThroughputAndValidation(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	f := whatsappfake.New(whatsappfake.Options{PerSecond: 2, Now: func() time.Time { return now }})
	defer f.Close()
	text := func(to string) map[string]any {
		return map[string]any{"messaging_product": "whatsapp", "to": to, "type": "text", "text": map[string]any{"body": "hi"}}
	}
	tok := f.Options().Token
	for i, to := range []string{"1", "2"} {
		if st, out := post(t, f, tok, text(to)); st != 200 {
			t.Fatalf("send %d: %d %v", i, st, out)
		}
	}
	if st, out := post(t, f, tok, text("3")); st != 429 || code(out) != 130429 {
		t.Fatalf("third within a second: %d %v", st, out)
	}
	now = now.Add(time.Second)
	if st, out := post(t, f, tok, text("3")); st != 200 {
		t.Fatalf("next second: %d %v", st, out)
	}
	if st, out := post(t, f, "bad", text("4")); st != 401 || code(out) != 190 {
		t.Fatalf("bad token: %d %v", st, out)
	}
	bad := map[string]any{"messaging_product": "whatsapp", "to": "+5", "type": "text", "text": map[string]any{"body": "x"}}
	if st, out := post(t, f, tok, bad); st != 400 || code(out) != 131009 {
		t.Fatalf("plus sign: %d %v", st, out)
	}
	if n := len(f.Sent()); n != 3 {
		t.Fatalf("%d accepted", n)
	}
}
