package email_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email"
	"github.com/nudge-engine/nudge/channels/email/emailfake"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

// BenchmarkSend measures one SMTP session per message against the fake
// (connect, EHLO, MAIL, RCPT, DATA, QUIT) with tracking rewrite.
func BenchmarkSend(b *testing.B) {
	f, err := emailfake.New(emailfake.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c := email.New(email.Config{Host: f.Host(), Port: f.Port(), TLS: email.TLSNone, From: "news@growfood.example",
		Timeout: 5 * time.Second, TrackingURL: "https://n.example", TrackingSecret: "s"}, nil)
	channeltest.BenchSend(b, c, weekly(), func(m *channels.Message, i int) { m.IdempotencyKey = fmt.Sprint("k", i) })
}

func BenchmarkParseDSN(b *testing.B) {
	channeltest.BenchParse(b, "postfix_failed.eml", func(raw []byte) error {
		_, err := email.ParseDSN(raw)
		return err
	})
}
