package telegram_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
)

func FuzzParseUpdate(f *testing.F) {
	f.Add([]byte(`{"update_id":1,"message":{"chat":{"id":1},"text":"/start@x y"}}`))
	channeltest.FuzzParse(f, nil, func(body []byte) ([]channels.Event, error) {
		evs, _, err := telegram.ParseUpdate("a", body)
		return evs, err
	}, nil)
}
