package messengerfake_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
)

func TestPageRateTokenAndTags(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	f := messengerfake.New(messengerfake.Options{PerSecond: 1, Now: func() time.Time { return now }})
	defer f.Close()
	send := func(query string, body map[string]any) (int, float64) {
		b, _ := json.Marshal(body)
		st, ans := channeltest.Post(t, f.URL()+"/me/messages?"+query, "application/json", b, nil)
		var out struct {
			Error struct {
				Code float64 `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(ans, &out)
		return st, out.Error.Code
	}
	tok := "access_token=" + f.Options().PageToken
	msg := func(extra map[string]any) map[string]any {
		m := map[string]any{"recipient": map[string]string{"id": "p1"}, "messaging_type": "UPDATE", "message": map[string]string{"text": "hi"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	if st, c := send(tok, msg(nil)); st != 200 {
		t.Fatalf("first: %d %v", st, c)
	}
	if st, c := send(tok, msg(nil)); st != 400 || c != 613 {
		t.Fatalf("over page rate: %d %v", st, c)
	}
	now = now.Add(time.Second)
	if st, c := send(tok, msg(map[string]any{"messaging_type": "MESSAGE_TAG", "tag": "PROMOTION"})); st != 400 || c != 100 {
		t.Fatalf("unknown tag: %d %v", st, c)
	}
	if st, c := send("access_token=wrong", msg(nil)); st != 400 || c != 190 {
		t.Fatalf("bad token: %d %v", st, c)
	}
	if n := len(f.Sent()); n != 1 {
		t.Fatalf("%d accepted", n)
	}
}
