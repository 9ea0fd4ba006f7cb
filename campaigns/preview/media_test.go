package preview

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// The text preview lists an album and a document as the channel gets them.
func TestWriteTextAlbumAndDocument(t *testing.T) {
	r := &Result{RenderedFor: channels.Telegram, Message: &Message{Locale: "ru", Format: channels.HTML, Text: "Меню недели",
		Images:   []string{"https://x.example/1.jpg", "https://x.example/2.jpg"},
		Document: &channels.DocumentRef{URL: "https://x.example/r/A-42.pdf"}}}
	textHolds(t, r, "album 1/2: https://x.example/1.jpg\n", "album 2/2: https://x.example/2.jpg\n", "document: A-42.pdf (https://x.example/r/A-42.pdf)\n")
}
