package viber_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
)

// BenchmarkSend measures one send_message with a keyboard through the client
// and the fake over loopback HTTP.
func BenchmarkSend(b *testing.B) {
	_, c, _ := setup(b)
	m := channels.Message{Text: "Понравилась еда? / Did you like the food?", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}}}
	channeltest.BenchSend(b, c, m, func(m *channels.Message, i int) {
		m.To = viberfake.UserID(i) + string(rune('a'+i/1000%26)) + string(rune('a'+i/26000%26))
	})
}

// BenchmarkVerifyAndParse measures signature check + parse of a delivered receipt.
func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Testdata(b, "delivered.json")
	sig := viberfake.Sign(viberfake.Token, body)
	b.ReportAllocs()
	for b.Loop() {
		if viberfake.Sign(viberfake.Token, body) != sig {
			b.Fatal("signature")
		}
		if _, _, err := viber.ParseCallback("", body); err != nil {
			b.Fatal(err)
		}
	}
}
