package viber_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber"
)

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"event":"message","message_token":1,"sender":{"id":"u"},"message":{"type":"text","text":"a","tracking_data":"{\"nudge\":1,\"b\":[\"a\"]}"}}`))
	channeltest.FuzzParse(f, []string{"message_picture.json", "message_file.json"}, func(body []byte) ([]channels.Event, error) {
		evs, _, err := viber.ParseCallback("a", body)
		return evs, err
	}, func(e channels.Event) bool { return e.ProviderEventID == "" || e.From == "" })
}
