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
	m := channels.Message{Text: "Понравилась еда? / Did you like the food?", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}}}
	channeltest.BenchSend(b, c, m, func(m *channels.Message, i int) { m.To = strconv.Itoa(1 + i%1000) })
}

func BenchmarkParseUpdate(b *testing.B) {
	body := channeltest.Testdata(b, "callback_query.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := telegram.ParseUpdate("", body); err != nil {
			b.Fatal(err)
		}
	}
}
