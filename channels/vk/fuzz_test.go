package vk_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/vk"
)

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"type":"message_new","group_id":1,"secret":"s","object":{"message":{"peer_id":1,"payload":"{\"button\":\"a\"}"}}}`))
	cfg := vk.Config{Secret: "nudgeSecret42"}
	channeltest.FuzzParse(f, []string{"message_new_attachments.json"}, verified(cfg),
		func(e channels.Event) bool { return e.ProviderEventID == "" || e.From == "" })
}
