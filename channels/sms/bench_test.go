package sms_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/sms"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
)

func BenchmarkSend(b *testing.B) {
	f := smsfake.New(smsfake.Options{PerSecond: -1})
	defer f.Close()
	o := f.Options()
	c := sms.New(sms.Config{APIURL: f.URL(), AccountSID: o.AccountSID, AuthToken: o.AuthToken, From: o.From}, nil)
	channeltest.BenchSend(b, c, channels.Message{Text: "Ваше меню готово"}, func(m *channels.Message, i int) { m.To = fmt.Sprintf("+7916%07d", i) })
}

func BenchmarkVerify(b *testing.B) {
	form := url.Values{"MessageSid": {"SM1"}, "SmsSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {"+79160000000"},
		"From": {"+15005550006"}, "AccountSid": {"AC1"}, "ApiVersion": {"2010-04-01"}}
	const u = "https://nudge.example/webhooks/sms/main?c=run%3A1"
	sig := sms.Sign("tok", u, form)
	b.ReportAllocs()
	for b.Loop() {
		if !sms.Verify("tok", u, form, sig) {
			b.Fatal("no")
		}
	}
}

func BenchmarkSegments(b *testing.B) {
	text := "Здравствуйте! Ваше меню на следующую неделю уже готово — загляните: https://growfood.example/menu"
	b.ReportAllocs()
	for b.Loop() {
		_ = sms.Segments(text)
	}
}
