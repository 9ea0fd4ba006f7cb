package whatsapp_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// BenchmarkSend measures a full send through the fake (HTTP round trip,
// JSON both ways) with the fake's limits off.
func BenchmarkSend(b *testing.B) {
	f := whatsappfake.New(whatsappfake.Options{PerSecond: -1, PairInterval: -1})
	defer f.Close()
	o := f.Options()
	c := whatsapp.New(whatsapp.Config{App: meta.App{APIURL: f.URL()}, Token: o.Token, PhoneNumberID: o.PhoneNumberID}, nil)
	m := channels.Message{Text: "Как вам ужин?", Buttons: []channels.Button{{ID: "yes", Text: "Да"}, {ID: "no", Text: "Нет"}}}
	channeltest.BenchSend(b, c, m, func(m *channels.Message, i int) { m.To = strconv.Itoa(79160000000 + i) })
}

// BenchmarkWebhook measures signature check + parse + sink for a status batch.
func BenchmarkWebhook(b *testing.B) {
	body := channeltest.Testdata(b, "statuses.json")
	cfg := whatsapp.Config{App: meta.App{AppSecret: "s"}}
	h := whatsapp.NewWebhook(cfg, channels.SinkFunc(func(context.Context, []channels.Event) (channels.Ack, error) { return channels.Ack{}, nil }), nil)
	sig := meta.Sign("s", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set(meta.SignatureHeader, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
