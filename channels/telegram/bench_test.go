package telegram_test

import (
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
)

// BenchmarkSend measures one sendMessage with a keyboard through the client
// and the fake over loopback HTTP.
func BenchmarkSend(b *testing.B) {
	_, c, _ := setup(b)
	channeltest.BenchSend(b, c, channeltest.Ask(), func(m *channels.Message, i int) { m.To = strconv.Itoa(1 + i%1000) })
}

func BenchmarkParseUpdate(b *testing.B) {
	channeltest.BenchParse(b, "callback_query.json", func(body []byte) error {
		_, _, err := telegram.ParseUpdate("", body)
		return err
	})
}
