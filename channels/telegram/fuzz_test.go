package telegram_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels/telegram"
)

func FuzzParseUpdate(f *testing.F) {
	f.Add([]byte(`{"update_id":1,"message":{"chat":{"id":1},"text":"/start@x y"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, _, err := telegram.ParseUpdate("a", body)
		if err != nil && len(evs) > 0 {
			t.Fatal("events with an error")
		}
	})
}
