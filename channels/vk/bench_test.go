package vk_test

import (
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/vk"
)

// BenchmarkSend measures one messages.send with a keyboard through the
// client and the fake over loopback HTTP (the fake's 20 req/s limit off).
func BenchmarkSend(b *testing.B) {
	fake, c, _ := setup(b)
	fake.RatePerSecond = 0
	channeltest.BenchSend(b, c, channeltest.Ask(), func(m *channels.Message, i int) {
		m.To, m.IdempotencyKey = strconv.Itoa(1+i%1000), "bench:"+strconv.Itoa(i)
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	cfg := vk.Config{GroupID: 229876543, Secret: "nudgeSecret42"}
	parse := verified(cfg)
	channeltest.BenchParse(b, "message_new_button.json", func(body []byte) error {
		_, err := parse(body)
		return err
	})
}
