package messenger_test

import (
	"bytes"
	"cmp"
	"context"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/messenger"
)

// Attachments in the Messenger Platform's own webhook format: images (a
// sticker among them) and files become attachments with their CDN URLs;
// a shared link (fallback) is no file.
func TestParseAttachmentsFixture(t *testing.T) {
	evs, err := messenger.Parse(channeltest.Testdata(t, "attachments.json"), "page1")
	if err != nil || len(evs) != 3 {
		t.Fatalf("parse: %d events, %v", len(evs), err)
	}
	want := [][]channels.Attachment{
		{
			{Kind: channels.Photo, URL: "https://scontent.xx.fbcdn.net/v/t1.15752-9/468912345_1234567890123456_987654321_n.jpg?_nc_cat=104&ccb=1-7&_nc_sid=fc17b8&oh=03_Q7cD1QGfakeSig&oe=6760A1B2"},
			{Kind: channels.Sticker, URL: "https://scontent.xx.fbcdn.net/v/t39.1997-6/39178562_1505197616293642_5411344281094848512_n.png?_nc_cat=1&oh=00_AYFfakeSig&oe=6760A1B3"},
		},
		{{Kind: channels.Document, Name: "чек.pdf", URL: "https://cdn.fbsbx.com/v/t59.2708-21/468123456_123456789012345_1234567890123456789_n.pdf/%D1%87%D0%B5%D0%BA.pdf?_nc_cat=109&ccb=1-7&oh=03_Q7cD1QHfakeSig&oe=6760A1B4"}},
		{{Kind: channels.Audio, Name: "", URL: "https://cdn.fbsbx.com/v/t59.3654-21/468234567_234567890123456_n.mp4/audioclip-1732190109000-3012.mp4?_nc_cat=100&oh=03_Q7cD1QIfakeSig&oe=6760A1B5"}},
	}
	for i, w := range want {
		e := evs[i]
		if e.Type != channels.EventText || e.Text != "" || len(e.Attachments) != len(w) || e.ProviderEventID == "" {
			t.Fatalf("event %d: %+v", i, e)
		}
		for j := range w {
			if e.Attachments[j] != w[j] {
				t.Errorf("event %d attachment %d = %+v, want %+v", i, j, e.Attachments[j], w[j])
			}
		}
	}
}

// A photo and a file a person sends arrive through the signed webhook and
// are downloaded from their CDN URLs, within the cap.
func TestAttachmentWebhookAndFetch(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 2000)...)
	uploads := []channeltest.Upload{
		{Type: "image", MIME: "image/jpeg", Data: jpeg, Kind: channels.Photo},
		{Type: "file", MIME: "application/pdf", Name: "чек.pdf", Data: []byte("%PDF-1.4 receipt"), Kind: channels.Document},
		{Type: "audio", MIME: "audio/mp4", Data: []byte("....ftypM4A "), Kind: channels.Audio},
	}
	// The CDN path names an audio clip too, but only a file's name is kept.
	served := map[string]string{"audio": "audioclip-1.mp4"}
	atts := channeltest.WantUploads(t, s.Sink, s.Client, uploads, func(u channeltest.Upload) (string, error) {
		url := s.Fake.AddFile(u.MIME, cmp.Or(served[u.Type], u.Name), u.Data)
		_, err := s.Fake.Attachment(ctx, "6251234567890123", u.Type, url, 0)
		return url, err
	}, func(a channels.Attachment) string { return a.URL })
	if n := s.Fake.FileDownloads(); n != len(uploads) {
		t.Errorf("downloads = %d, want %d", n, len(uploads))
	}
	photo := atts[0]
	// Messenger states no size: the download stops at the cap.
	channeltest.WantTooLarge(t, s.Client, photo, 100, 0)
	// An expired or tampered link is the CDN's 403: not worth a retry.
	bad := photo
	bad.URL = photo.URL[:len(photo.URL)-len("&oe=6760A1B2")-2] + "xx&oe=6760A1B2"
	if _, err := s.Client.Fetch(ctx, bad, 1<<20); channels.KindOf(err) != channels.Invalid {
		t.Errorf("bad signature: %v", err)
	}
}
