package vk_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels/internal/channeltest"

	"github.com/nudge-engine/nudge/channels/vk"
)

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"type":"message_new","group_id":1,"secret":"s","object":{"message":{"peer_id":1,"payload":"{\"button\":\"a\"}"}}}`))
	f.Add(channeltest.Testdata(f, "message_new_attachments.json"))
	cfg := vk.Config{Secret: "nudgeSecret42"}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, st := vk.Verify(cfg, body)
		if st != 0 {
			return
		}
		evs, _, err := vk.ParseCallback("a", env, body)
		if err != nil && len(evs) > 0 {
			t.Fatal("events with an error")
		}
		for _, e := range evs {
			if e.ProviderEventID == "" || e.From == "" {
				t.Fatalf("event without dedupe id or sender: %+v", e)
			}
		}
	})
}
