package viber_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
)

// Picture and file messages in Viber's own callback format carry their
// media URL, name and size as an attachment; a text message's media link
// is no file.
func TestParseMediaFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, text string
		want       channels.Attachment
	}{
		{"message_picture.json", "Котлета сгорела", channels.Attachment{Kind: channels.Photo, Name: "IMG_20250608_221501.jpg", Size: 184213,
			URL: "https://dl-media.viber.com/5/share/2/long/vibes/icon/image/0x0/95e0/5688fdffdaa81a2f0ce6c0ad4ba6df1de4b9c8f7e1d1cd0fd4dc08f5ef9d495e.jpg"}},
		{"message_file.json", "", channels.Attachment{Kind: channels.Document, Name: "чек.pdf", Size: 20480,
			URL: "https://dl-media.viber.com/5/share/2/long/bots/generic/2c5f0f8a3e1d4b6a9f7e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a.pdf"}},
	} {
		e, _, ok := channeltest.FixtureEvent(t, tc.file, channels.EventText, parse)
		if ok && (e.Text != tc.text || len(e.Attachments) != 1 || e.Attachments[0] != tc.want) {
			t.Errorf("%s: %q %+v", tc.file, e.Text, e.Attachments)
		}
	}
	evs, _, _ := viber.ParseCallback("a", channeltest.Testdata(t, "message_text.json"))
	if len(evs) != 1 || len(evs[0].Attachments) != 0 {
		t.Errorf("text message with a media link: %+v", evs)
	}
}

// A picture and a file a user sends arrive through the signed webhook and
// are downloaded from their media URLs, within the cap.
func TestMediaWebhookAndFetch(t *testing.T) {
	t.Parallel()
	fake, c, cfg := setup(t)
	sink, hook := channeltest.Webhook(t, viber.NewWebhook, cfg)
	ctx := context.Background()
	user := viberfake.UserID(3)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 2000)...)
	uploads := []channeltest.Upload{
		{Type: "picture", Caption: "Котлета сгорела", MIME: "image/jpeg", Name: "IMG_1.jpg", Data: jpeg, Kind: channels.Photo},
		{Type: "file", MIME: "application/pdf", Name: "чек.pdf", Data: []byte("%PDF-1.4 receipt"), Kind: channels.Document},
		{Type: "video", MIME: "video/mp4", Data: []byte("....ftypmp42"), Kind: channels.Video},
	}
	atts := channeltest.WantUploads(t, sink, c, uploads, func(u channeltest.Upload) (string, error) {
		url := fake.AddFile(u.MIME, u.Name, u.Data)
		st, _, err := fake.PostTo(ctx, hook.URL, fake.MediaMessage(user, u.Type, url, u.Caption))
		if err == nil && st != 200 {
			err = fmt.Errorf("status %d", st)
		}
		return url, err
	}, func(a channels.Attachment) string { return a.URL })
	for i, a := range atts {
		if a.Size != int64(len(uploads[i].Data)) {
			t.Errorf("%s: size %d, want the callback's %d", uploads[i].Type, a.Size, len(uploads[i].Data))
		}
	}
	if n := fake.Downloads(); n != len(uploads) {
		t.Errorf("downloads = %d, want %d", n, len(uploads))
	}
	photo := atts[0]
	// Over the cap by the size in the callback: nothing downloaded.
	channeltest.WantTooLarge(t, c, photo, 100, int64(len(jpeg)))
	if n := fake.Downloads(); n != len(uploads) {
		t.Errorf("an oversize file was downloaded: %d downloads", n)
	}
	// Without a size, the download stops at the cap.
	photo.Size = 0
	channeltest.WantTooLarge(t, c, photo, 100, 0)
	// A link that no longer resolves is a 404: not worth a retry.
	photo.URL += "x"
	if _, err := c.Fetch(ctx, photo, 1<<20); channels.KindOf(err) != channels.Invalid {
		t.Errorf("gone: %v", err)
	}
}
