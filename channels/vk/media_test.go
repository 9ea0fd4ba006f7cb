package vk_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/vk"
)

// Attachments in VK's own message_new format: a photo's largest size, a
// document with its title and size, a voice message's OGG link; a sticker
// is no file.
func TestParseAttachmentsFixture(t *testing.T) {
	e, _, ok := channeltest.FixtureEvent(t, "message_new_attachments.json", channels.EventText, verified(vk.Config{Secret: "nudgeSecret42"}))
	want := []channels.Attachment{
		{Kind: channels.Photo, URL: "https://sun9-21.userapi.com/impg/AbCdEf0123/x1.jpg?size=1280x960&quality=96&sign=9f8e7d6c5b4a&type=album"},
		{Kind: channels.Document, Name: "чек.pdf", Size: 20480, URL: "https://vk.com/doc493756402_657123456?hash=Zx9Yw8Vu7Ts6&dl=GEYTAMJQGE3TA:1763741020:Qr5Pn4Mm3&api=1&no_preview=1"},
		{Kind: channels.Voice, MIME: "audio/ogg", URL: "https://psv4.userapi.com/s/v1/amsg/c1b2a3/voice.ogg"},
	}
	if !ok || e.Text != "Котлета сгорела" || len(e.Attachments) != len(want) {
		t.Fatalf("event %q %+v", e.Text, e.Attachments)
	}
	for i, w := range want {
		if e.Attachments[i] != w {
			t.Errorf("attachment %d = %+v, want %+v", i, e.Attachments[i], w)
		}
	}
}

// A photo, a document and a voice message a user sends arrive through the
// Callback API and are downloaded from their URLs, within the cap.
func TestAttachmentsWebhookAndFetch(t *testing.T) {
	t.Parallel()
	fake, c, cfg := setup(t)
	sink, hook := channeltest.Webhook(t, vk.NewWebhook, cfg)
	fake.SetCallback(hook.URL)
	ctx := context.Background()
	const user = 493756402
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 2000)...)
	pdf := []byte("%PDF-1.4 receipt")
	ogg := []byte("OggS voice")
	body := fake.MessageNewWith(user, "Котлета сгорела",
		fake.PhotoAttachment(user, jpeg), fake.DocAttachment(user, "чек.pdf", "application/pdf", pdf), fake.VoiceAttachment(user, 3, ogg))
	if st, _, err := fake.Post(ctx, body); err != nil || st != 200 {
		t.Fatalf("callback: %d %v", st, err)
	}
	evs := sink.Events()
	if len(evs) != 1 || evs[0].Text != "Котлета сгорела" || len(evs[0].Attachments) != 3 {
		t.Fatalf("events %+v", evs)
	}
	want := []struct {
		kind       channels.AttachmentKind
		data       []byte
		mime, name string
	}{
		{channels.Photo, jpeg, "image/jpeg", ""},
		{channels.Document, pdf, "application/pdf", "чек.pdf"},
		{channels.Voice, ogg, "audio/ogg", ""},
	}
	for i, w := range want {
		a := evs[0].Attachments[i]
		if a.Kind != w.kind || a.Name != w.name {
			t.Errorf("attachment %d %+v", i, a)
		}
		channeltest.WantFile(t, c, a, w.data, w.mime, w.name)
	}
	if n := fake.Downloads(); n != len(want) {
		t.Errorf("downloads = %d, want %d", n, len(want))
	}
	// Over the cap by the document's stated size: nothing downloaded.
	doc := evs[0].Attachments[1]
	channeltest.WantTooLarge(t, c, doc, 10, int64(len(pdf)))
	if n := fake.Downloads(); n != len(want) {
		t.Errorf("an oversize file was downloaded: %d downloads", n)
	}
	// A photo states no size: the download stops at the cap.
	channeltest.WantTooLarge(t, c, evs[0].Attachments[0], 100, 0)
}
