package email_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email/emailfake"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

// A PDF receipt is fetched and arrives as an attachment under its name,
// beside the text and HTML parts; a receipt that is gone fails the send
// as Invalid and nothing reaches the relay.
func TestSendAttachesDocument(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("receipt "), 500)...)
	files := channeltest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/r/A-42.pdf" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(pdf)
	}))
	m := weekly()
	m.Document = &channels.DocumentRef{URL: files.URL + "/r/A-42.pdf", Name: "Чек A-42.pdf"}
	channeltest.Send(t, s.client, m)
	msgs := s.fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Attachments) != 1 || p.Attachments[0].Name != "Чек A-42.pdf" || p.Attachments[0].Type != "application/pdf" || !bytes.Equal(p.Attachments[0].Data, pdf) {
		for _, a := range p.Attachments {
			t.Errorf("attachment %q %s, %d bytes", a.Name, a.Type, len(a.Data))
		}
		t.Fatalf("%d attachments, want the receipt", len(p.Attachments))
	}
	if p.Text == "" || p.HTML == "" {
		t.Errorf("text or html part lost: %q %q", p.Text, p.HTML)
	}
	m.IdempotencyKey, m.Document = "gone", &channels.DocumentRef{URL: files.URL + "/r/gone.pdf"}
	channeltest.WantRefused(t, s.client, m, channels.Invalid, "http_404", func() int { return len(s.fake.Messages()) - 1 })
}
