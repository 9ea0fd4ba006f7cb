package viber_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"event":"message","message_token":1,"sender":{"id":"u"},"message":{"type":"text","text":"a","tracking_data":"{\"nudge\":1,\"b\":[\"a\"]}"}}`))
	channeltest.FuzzParse(f, []string{"message_picture.json", "message_file.json"}, parse,
		func(e channels.Event) bool { return e.ProviderEventID == "" || e.From == "" })
}
