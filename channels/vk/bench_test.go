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
	m := channels.Message{Text: "Понравилась еда? / Did you like the food?", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}}}
	channeltest.BenchSend(b, c, m, func(m *channels.Message, i int) {
		m.To, m.IdempotencyKey = strconv.Itoa(1+i%1000), "bench:"+strconv.Itoa(i)
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Testdata(b, "message_new_button.json")
	cfg := vk.Config{GroupID: 229876543, Secret: "nudgeSecret42"}
	b.ReportAllocs()
	for b.Loop() {
		env, st := vk.Verify(cfg, body)
		if st != 0 {
			b.Fatal(st)
		}
		if _, _, err := vk.ParseCallback("", env, body); err != nil {
			b.Fatal(err)
		}
	}
}
