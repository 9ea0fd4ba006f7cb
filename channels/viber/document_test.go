package viber_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
)

// A document goes as a file message with its size (asked of its server)
// and name, then the text with its keyboard, whose token is the result.
func TestSendDocumentAsFile(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	pdf := bytes.Repeat([]byte("%PDF-1.4 receipt "), 100)
	url := fake.AddFile("application/pdf", "A-42.pdf", pdf)
	user := viberfake.UserID(2)
	res := channeltest.Send(t, c, channels.Message{To: user, Text: "Ваш чек", Correlation: "k1",
		Document: &channels.DocumentRef{URL: url, Name: "Чек A-42.pdf"}, Buttons: []channels.Button{{ID: "ok", Text: "Спасибо"}}})
	s := fake.SentTo(user)
	if len(s) != 2 || s[0].Type != "file" || s[0].Media != url || s[0].Size != int64(len(pdf)) || s[0].FileName != "Чек A-42.pdf" {
		t.Fatalf("sent %+v", s)
	}
	if s[1].Type != "text" || s[1].Text != "Ваш чек" || len(s[1].Keyboard) != 1 || res.ProviderID != strconv.FormatInt(s[1].MessageToken, 10) {
		t.Errorf("text %+v result %+v", s[1], res)
	}
	if fake.Downloads() != 0 {
		t.Errorf("the size took %d downloads, want a HEAD only", fake.Downloads())
	}
	// A document alone is one file message carrying the correlation.
	res = channeltest.Send(t, c, channels.Message{To: user, Correlation: "k2", Document: &channels.DocumentRef{URL: url}})
	s = fake.SentTo(user)
	if len(s) != 3 || s[2].Type != "file" || res.ProviderID != strconv.FormatInt(s[2].MessageToken, 10) {
		t.Fatalf("sent %+v", s)
	}
	if tr, ok := viber.ParseTracking(s[2].TrackingData); !ok || tr.Correlation != "k2" {
		t.Errorf("tracking %q", s[2].TrackingData)
	}
}

// A server that gives no Content-Length is read to count the bytes; one
// over Viber's 50 MB is refused before any send.
func TestDocumentSizeWithoutContentLength(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	body := []byte("chunked receipt")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.pdf" {
			w.Header().Set("Content-Length", strconv.Itoa(51<<20))
			if r.Method == http.MethodHead {
				return
			}
		}
		w.(http.Flusher).Flush() // chunked: no Content-Length
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	user := viberfake.UserID(3)
	channeltest.Send(t, c, channels.Message{To: user, Document: &channels.DocumentRef{URL: srv.URL + "/r.pdf"}})
	if s := fake.SentTo(user); len(s) != 1 || s[0].Size != int64(len(body)) || s[0].FileName != "r.pdf" {
		t.Fatalf("sent %+v", s)
	}
	_, err := c.Send(context.Background(), channels.Message{To: user, Document: &channels.DocumentRef{URL: srv.URL + "/big.pdf"}})
	if channels.KindOf(err) != channels.Invalid || len(fake.SentTo(user)) != 1 {
		t.Fatalf("over 50 MB: %v, sent %d", err, len(fake.SentTo(user)))
	}
}

// The fake refuses a file message without its size or name, as Viber does
// (status 4, missingData), and one over 50 MB (3, badData).
func TestFakeRefusesFileWithoutSizeOrName(t *testing.T) {
	t.Parallel()
	_, c, cfg := setup(t)
	base := viber.OutMessage{Receiver: viberfake.UserID(4), MinAPIVersion: 1, Sender: viber.Sender{Name: cfg.SenderName},
		Type: "file", Media: "https://shop.example/r.pdf", Size: 2048, FileName: "r.pdf"}
	noSize, noName, big := base, base, base
	noSize.Size, noName.FileName, big.Size = 0, "", 51<<20
	for name, tc := range map[string]struct {
		m    viber.OutMessage
		code string
	}{"no size": {noSize, "4"}, "no name": {noName, "4"}, "over 50 MB": {big, "3"}} {
		err := c.Call(context.Background(), "send_message", tc.m, nil)
		var ce *channels.Error
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%s: %v, want status %s", name, err, tc.code)
		}
	}
	if err := c.Call(context.Background(), "send_message", base, nil); err != nil {
		t.Errorf("complete file message: %v", err)
	}
}

// A failed second part reports the first as sent, and the retry with
// SkipParts sends only the rest: the customer gets the carousel once.
func TestRetryResumesAtTheFailedPart(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	user := viberfake.UserID(5)
	fake.FailNext(user, 0)
	fake.FailNext(user, 12) // tooManyRequests: retried later
	m := channels.Message{To: user, Text: "Меню недели", Images: []string{"https://x.example/1.jpg", "https://x.example/2.jpg"}}
	_, err := c.Send(context.Background(), m)
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.PartsSent != 1 {
		t.Fatalf("first try: %v (%+v)", err, ce)
	}
	m.SkipParts = ce.PartsSent
	channeltest.Send(t, c, m)
	s := fake.SentTo(user)
	if len(s) != 2 || s[0].Type != "rich_media" || s[1].Type != "text" {
		t.Fatalf("sent %+v", s)
	}
}
