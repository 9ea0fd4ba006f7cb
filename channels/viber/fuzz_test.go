package viber_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels/internal/channeltest"

	"github.com/nudge-engine/nudge/channels/viber"
)

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"event":"message","message_token":1,"sender":{"id":"u"},"message":{"type":"text","text":"a","tracking_data":"{\"nudge\":1,\"b\":[\"a\"]}"}}`))
	f.Add(channeltest.Testdata(f, "message_picture.json"))
	f.Add(channeltest.Testdata(f, "message_file.json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, _, err := viber.ParseCallback("a", body)
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
