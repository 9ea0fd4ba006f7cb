package whatsapp_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// Media messages in the Cloud API's own webhook format become text events
// (the caption) carrying the media id as an attachment.
func TestParseMediaFixture(t *testing.T) {
	evs, err := whatsapp.Parse(channeltest.Testdata(t, "media.json"), "main")
	if err != nil || len(evs) != 3 {
		t.Fatalf("parse: %d events, %v", len(evs), err)
	}
	want := []struct {
		text string
		a    channels.Attachment
	}{
		{"Котлета сгорела", channels.Attachment{Kind: channels.Photo, ProviderFileID: "1104480873777230", MIME: "image/jpeg"}},
		{"", channels.Attachment{Kind: channels.Document, ProviderFileID: "2293846120571004", MIME: "application/pdf", Name: "чек.pdf"}},
		{"", channels.Attachment{Kind: channels.Voice, ProviderFileID: "1873620953402218", MIME: "audio/ogg; codecs=opus"}},
	}
	for i, w := range want {
		e := evs[i]
		if e.Type != channels.EventText || e.Text != w.text || len(e.Attachments) != 1 || e.Attachments[0] != w.a {
			t.Errorf("event %d = %q %+v, want %q %+v", i, e.Text, e.Attachments, w.text, w.a)
		}
	}
}

// A photo, a document and a voice note a customer sends arrive through the
// signed webhook and are fetched through the media node and its URL, as
// from the Cloud API.
func TestMediaWebhookAndFetch(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	ctx := context.Background()
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 2000)...)
	uploads := []channeltest.Upload{
		{Type: "image", Caption: "Котлета сгорела", MIME: "image/jpeg", Data: jpeg, Kind: channels.Photo},
		{Type: "document", MIME: "application/pdf", Name: "чек.pdf", Data: []byte("%PDF-1.4 receipt"), Kind: channels.Document},
		{Type: "audio", MIME: "audio/ogg", Data: []byte("OggS voice"), Kind: channels.Voice}, // a voice note
		{Type: "video", MIME: "video/mp4", Data: []byte("....ftypmp42"), Kind: channels.Video},
	}
	atts := channeltest.WantUploads(t, s.Sink, s.Client, uploads, func(u channeltest.Upload) (string, error) {
		id := s.Fake.AddMedia(u.MIME, u.Name, u.Data)
		_, err := s.Fake.Media(ctx, "79161234567", "Анна", u.Type, id, u.Caption, u.Kind == channels.Voice)
		return id, err
	}, func(a channels.Attachment) string { return a.ProviderFileID })
	if n := s.Fake.MediaCalls(); n != len(uploads) {
		t.Errorf("media node calls = %d, want %d", n, len(uploads))
	}

	photo := atts[0]
	// Over the cap: refused by the size on the media node, nothing downloaded.
	before := s.Fake.Requests()
	channeltest.WantTooLarge(t, s.Client, photo, 100, int64(len(jpeg)))
	if n := s.Fake.Requests() - before; n != 1 {
		t.Errorf("an oversize file was downloaded: %d requests", n)
	}
	// An unknown media id is Graph's 400 (code 100): not worth a retry.
	_, err := s.Client.Fetch(ctx, channels.Attachment{Kind: channels.Photo, ProviderFileID: "999"}, 100)
	if channels.KindOf(err) != channels.Invalid {
		t.Errorf("unknown media: %v", err)
	}
	// A wrong token is refused before any bytes are served.
	cfg := s.Cfg
	cfg.Token = "wrong"
	if _, err := whatsapp.New(cfg, nil).Fetch(ctx, photo, 1<<20); channels.KindOf(err) != channels.Invalid {
		t.Errorf("wrong token: %v", err)
	}
}
