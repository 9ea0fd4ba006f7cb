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
	cases := []struct {
		typ, caption string
		voice        bool
		mime, name   string
		data         []byte
		kind         channels.AttachmentKind
	}{
		{"image", "Котлета сгорела", false, "image/jpeg", "", jpeg, channels.Photo},
		{"document", "", false, "application/pdf", "чек.pdf", []byte("%PDF-1.4 receipt"), channels.Document},
		{"audio", "", true, "audio/ogg", "", []byte("OggS voice"), channels.Voice},
		{"video", "", false, "video/mp4", "", []byte("....ftypmp42"), channels.Video},
	}
	for i, tc := range cases {
		id := s.Fake.AddMedia(tc.mime, tc.name, tc.data)
		if _, err := s.Fake.Media(ctx, "79161234567", "Анна", tc.typ, id, tc.caption, tc.voice); err != nil {
			t.Fatalf("%s webhook: %v", tc.typ, err)
		}
		evs := s.Sink.Events()
		if len(evs) != i+1 {
			t.Fatalf("%d events after %s", len(evs), tc.typ)
		}
		ev := evs[i]
		if ev.Type != channels.EventText || ev.Text != tc.caption || len(ev.Attachments) != 1 {
			t.Fatalf("%s event %+v", tc.typ, ev)
		}
		a := ev.Attachments[0]
		if a.Kind != tc.kind || a.ProviderFileID != id || a.Name != tc.name {
			t.Errorf("%s attachment %+v", tc.typ, a)
		}
		channeltest.WantFile(t, s.Client, a, tc.data, tc.mime, tc.name)
	}
	if n := s.Fake.MediaCalls(); n != len(cases) {
		t.Errorf("media node calls = %d, want %d", n, len(cases))
	}

	photo := s.Sink.Events()[0].Attachments[0]
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
