package vk_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/uploads"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// A PDF receipt goes through docs.getMessagesUploadServer → upload of
// field "file" → docs.save and rides as a doc attachment after the photo;
// with the cache a second send reuses it.
func TestSendUploadsDocument(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	c.UsePhotoCache(uploads.New(testenv.DB(t), nil))
	img := fake.AddFile("image/jpeg", jpeg("menu"))
	pdf := fake.AddFile("application/pdf", []byte("%PDF-1.7 receipt A-42"))
	for _, peer := range []string{"301", "302"} {
		m := channels.Message{IdempotencyKey: "r" + peer, To: peer, Text: "Ваш чек", ImageURL: img,
			Document: &channels.DocumentRef{URL: pdf, Name: "Чек A-42.pdf"}}
		channeltest.Send(t, c, m)
	}
	docs, photos := fake.Docs(), fake.Photos()
	if len(docs) != 1 || docs[0].Title != "Чек A-42.pdf" || docs[0].Ext != "pdf" || docs[0].Size != len("%PDF-1.7 receipt A-42") || docs[0].PeerID != 301 || len(photos) != 1 {
		t.Fatalf("docs %+v photos %+v", docs, photos)
	}
	want := photos[0].Attachment() + "," + docs[0].Attachment()
	for _, m := range fake.Sent() {
		if m.Attachment != want || m.Text != "Ваш чек" {
			t.Errorf("to %d: %q %q, want %q", m.PeerID, m.Attachment, m.Text, want)
		}
	}
	if fake.UploadServers() != 2 || len(fake.Sent()) != 2 {
		t.Errorf("%d upload servers, %d sent", fake.UploadServers(), len(fake.Sent()))
	}
}
