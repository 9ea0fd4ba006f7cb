package sandbox

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// The sandbox keeps an album and a document with the send, so a dry run
// shows what each channel would have received.
func TestSendRecordsAlbumAndDocument(t *testing.T) {
	d := testenv.DB(t)
	s := New(Config{DB: d, Now: clock.NewManual(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)).Now})
	m := channels.Message{IdempotencyKey: "k1", Channel: channels.Sandbox, To: "anna", Text: "Меню",
		Images: []string{"https://x.example/1.jpg", "https://x.example/2.jpg"}, Document: &channels.DocumentRef{URL: "https://x.example/r.pdf", Name: "Чек.pdf"}}
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := d.Get(&raw, `SELECT content FROM sandbox_sends WHERE idempotency_key = 'k1'`); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Images   []string              `json:"images"`
		Document *channels.DocumentRef `json:"document"`
	}
	if err := json.Unmarshal(raw, &got); err != nil || len(got.Images) != 2 || got.Document == nil || got.Document.Name != "Чек.pdf" {
		t.Errorf("recorded %s (%v)", raw, err)
	}
}
