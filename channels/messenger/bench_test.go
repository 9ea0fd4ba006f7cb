package messenger_test

import (
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/messenger"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
	"github.com/nudge-engine/nudge/channels/meta"
)

func BenchmarkSend(b *testing.B) {
	f := messengerfake.New(messengerfake.Options{PerSecond: -1})
	defer f.Close()
	c := messenger.New(messenger.Config{App: meta.App{APIURL: f.URL()}, PageToken: f.Options().PageToken}, nil)
	m := channels.Message{Text: "Как вам ужин?", Buttons: []channels.Button{{ID: "yes", Text: "Да"}, {ID: "no", Text: "Нет"}}}
	channeltest.BenchSend(b, c, m, func(m *channels.Message, i int) { m.To = "psid" + strconv.Itoa(i) })
}

func BenchmarkParse(b *testing.B) {
	channeltest.BenchParse(b, "delivery_read.json", func(body []byte) error {
		_, err := messenger.Parse(body, "p")
		return err
	})
}
