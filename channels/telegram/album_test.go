package telegram_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

const menu = "Меню недели: индейка с булгуром, сырники, том-ям"

// Three photos go as one sendMediaGroup, the text as the first caption.
func TestAlbumWithCaption(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	res := channeltest.Send(t, c, channels.Message{To: "42", Text: menu, Images: channeltest.ImageURLs(3)})
	s := fake.SentTo(42)
	if len(s) != 3 || fake.Calls("sendmediagroup") != 1 {
		t.Fatalf("sent %+v", s)
	}
	for i, m := range s {
		if m.Method != "sendMediaGroup" || m.Photo != channeltest.ImageURLs(3)[i] || m.MediaGroupID == "" || m.MediaGroupID != s[0].MediaGroupID {
			t.Errorf("item %d: %+v", i, m)
		}
	}
	if s[0].Text != menu || s[1].Text != "" || res.ProviderID != "42:1" {
		t.Errorf("caption %q / %q, result %+v", s[0].Text, s[1].Text, res)
	}
}

// Buttons cannot ride on an album: the photos go first without a caption,
// then the text with the keyboard, whose id the result reports.
func TestAlbumWithButtons(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	res := channeltest.Send(t, c, channels.Message{To: "43", Text: menu, Images: channeltest.ImageURLs(2),
		Buttons: []channels.Button{{ID: "renew", Text: "Продлить"}}})
	s := fake.SentTo(43)
	if len(s) != 3 || s[0].Text != "" || s[2].Method != "sendMessage" || s[2].Text != menu || len(s[2].Keyboard) != 1 || res.ProviderID != "43:3" {
		t.Fatalf("sent %+v result %+v", s, res)
	}
}

// A PDF receipt goes as sendDocument with the text as caption and the
// buttons on it; a long text goes after it as its own message.
func TestDocument(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	doc := &channels.DocumentRef{URL: "https://shop.example/receipts/A-42.pdf?sig=1"}
	channeltest.Send(t, c, channels.Message{To: "44", Text: "Ваш чек", Document: doc,
		Buttons: []channels.Button{{Text: "Заказ", URL: "https://shop.example/o/42"}}})
	channeltest.Send(t, c, channels.Message{To: "47", Text: "Чек и фото", ImageURL: "https://x.example/p.jpg", Document: doc})
	if s := fake.SentTo(47); len(s) != 2 || s[0].Method != "sendPhoto" || s[0].Photo != "https://x.example/p.jpg" || s[1].Method != "sendDocument" || s[1].Text != "Чек и фото" {
		t.Errorf("photo and document: %+v", s)
	}
	long := strings.Repeat("чек ", 300)
	channeltest.Send(t, c, channels.Message{To: "44", Text: long, Document: doc})
	s := fake.SentTo(44)
	if len(s) != 3 || s[0].Method != "sendDocument" || s[0].Document != doc.URL || s[0].Text != "Ваш чек" || len(s[0].Keyboard) != 1 {
		t.Fatalf("sent %+v", s)
	}
	if s[1].Method != "sendDocument" || s[1].Text != "" || s[2].Method != "sendMessage" || s[2].Text != long {
		t.Errorf("long text: %+v", s[1:])
	}
}

// What Telegram would refuse is refused before any request, naming the
// limit: an album of one or of eleven, a .docx by URL, buttons with no text.
func TestAlbumAndDocumentRefusals(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	for _, m := range []channels.Message{
		{To: "45", Text: "x", Images: channeltest.ImageURLs(1)},
		{To: "45", Text: "x", Images: channeltest.ImageURLs(11)},
		{To: "45", Text: "x", Document: &channels.DocumentRef{URL: "https://shop.example/menu.docx"}},
		{To: "45", Images: channeltest.ImageURLs(2), Buttons: []channels.Button{{ID: "a", Text: "A"}}},
	} {
		channeltest.WantRefused(t, c, m, channels.Invalid, "local", func() int { return len(fake.SentTo(45)) })
	}
}

// The fake holds the Bot API's own rules when a client breaks them.
func TestFakeRefusesBadAlbums(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"chat_id": 46, "media": []map[string]string{{"type": "photo", "media": "https://x.example/1.jpg"}}}, "2-10 items"},
		{map[string]any{"chat_id": 46, "media": []map[string]string{{"type": "photo", "media": "https://x.example/1.jpg"}, {"type": "document", "media": "https://x.example/a.pdf"}}}, "own type"},
		{map[string]any{"chat_id": 46, "media": []map[string]string{{"type": "photo", "media": "https://x.example/1.jpg"}, {"type": "photo", "media": "nope"}}}, "wrong remote file"},
		{map[string]any{"chat_id": 46, "media": []map[string]string{{"type": "photo", "media": "https://x.example/1.jpg", "caption": strings.Repeat("a", 1025)}, {"type": "photo", "media": "https://x.example/2.jpg"}}}, "caption is too long"},
	} {
		err := c.Call(ctx, "sendMediaGroup", tc.params, nil)
		if ce := channeltest.WantError(t, err, channels.Invalid, "400"); !strings.Contains(ce.Message, tc.want) {
			t.Errorf("%v: %v, want %q", tc.params, err, tc.want)
		}
	}
	err := c.Call(ctx, "sendDocument", map[string]any{"chat_id": 46, "document": "https://x.example/menu.docx"}, nil)
	if ce := channeltest.WantError(t, err, channels.Invalid, "400"); !strings.Contains(ce.Message, "wrong type of the web page content") {
		t.Errorf("docx by url: %v", err)
	}
	if len(fake.SentTo(46)) != 0 {
		t.Errorf("sent %+v", fake.SentTo(46))
	}
}
