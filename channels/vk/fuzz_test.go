package vk_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
)

func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"type":"message_new","group_id":1,"secret":"s","object":{"message":{"peer_id":1,"payload":"{\"button\":\"a\"}"}}}`))
	cfg := vk.Config{Secret: "nudgeSecret42"}
	channeltest.FuzzParse(f, []string{"message_new_attachments.json"}, verified(cfg),
		func(e channels.Event) bool { return e.ProviderEventID == "" || e.From == "" })
}

// FuzzParseExecute: the fake's VKScript subset never panics, and code it
// accepts has at least one call.
func FuzzParseExecute(f *testing.F) {
	f.Add(`return [API.messages.send({"peer_id":"1","random_id":"2","message":"Меню \"недели\"\n"})];`)
	f.Add(`return API.messages.send({"peer_id":1});`)
	f.Add(`return [API.a({}),API.b({"x":1.5})];`)
	f.Fuzz(func(t *testing.T, code string) {
		calls, _, err := vkfake.ParseExecute(code)
		if err == nil && len(calls) == 0 {
			t.Fatalf("%q: no calls and no error", code)
		}
	})
}
