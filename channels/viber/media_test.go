package viber_test

import (
	"bytes"
	"context"
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
	cases := []struct {
		typ, caption, mime, name string
		data                     []byte
		kind                     channels.AttachmentKind
	}{
		{"picture", "Котлета сгорела", "image/jpeg", "IMG_1.jpg", jpeg, channels.Photo},
		{"file", "", "application/pdf", "чек.pdf", []byte("%PDF-1.4 receipt"), channels.Document},
		{"video", "", "video/mp4", "", []byte("....ftypmp42"), channels.Video},
	}
	for i, tc := range cases {
		u := fake.AddFile(tc.mime, tc.name, tc.data)
		if st, _, err := fake.PostTo(ctx, hook.URL, fake.MediaMessage(user, tc.typ, u, tc.caption)); err != nil || st != 200 {
			t.Fatalf("%s webhook: %d %v", tc.typ, st, err)
		}
		evs := sink.Events()
		if len(evs) != i+1 || len(evs[i].Attachments) != 1 || evs[i].Text != tc.caption {
			t.Fatalf("events after %s: %+v", tc.typ, evs)
		}
		a := evs[i].Attachments[0]
		if a.Kind != tc.kind || a.URL != u || a.Name != tc.name || a.Size != int64(len(tc.data)) {
			t.Errorf("%s attachment %+v", tc.typ, a)
		}
		channeltest.WantFile(t, c, a, tc.data, tc.mime, tc.name)
	}
	if n := fake.Downloads(); n != len(cases) {
		t.Errorf("downloads = %d, want %d", n, len(cases))
	}
	photo := sink.Events()[0].Attachments[0]
	// Over the cap by the size in the callback: nothing downloaded.
	channeltest.WantTooLarge(t, c, photo, 100, int64(len(jpeg)))
	if n := fake.Downloads(); n != len(cases) {
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
