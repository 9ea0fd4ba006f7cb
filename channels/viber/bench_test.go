package viber_test

import (
	"errors"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
)

// BenchmarkSend measures one send_message with a keyboard through the client
// and the fake over loopback HTTP.
func BenchmarkSend(b *testing.B) {
	_, c, _ := setup(b)
	channeltest.BenchSend(b, c, channeltest.Ask(), func(m *channels.Message, i int) {
		m.To = viberfake.UserID(i) + string(rune('a'+i/1000%26)) + string(rune('a'+i/26000%26))
	})
}

// BenchmarkVerifyAndParse measures signature check + parse of a delivered receipt.
func BenchmarkVerifyAndParse(b *testing.B) {
	sig := viberfake.Sign(viberfake.Token, channeltest.Testdata(b, "delivered.json"))
	channeltest.BenchParse(b, "delivered.json", func(body []byte) error {
		if viberfake.Sign(viberfake.Token, body) != sig {
			return errors.New("signature")
		}
		_, err := parse(body)
		return err
	})
}
