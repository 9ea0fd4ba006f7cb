package telegram_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
)

// A photo, a document and a voice note a user sends are parsed into
// attachments and fetched through getFile and the file URL, as from the
// Bot API.
func TestAttachmentsParsedAndFetched(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 2000)...)
	photo := fake.AddFile("photos", "", "image/jpeg", jpeg)
	doc := fake.AddFile("documents", "чек.pdf", "application/pdf", []byte("%PDF-1.4 receipt"))
	voice := fake.AddFile("voice", "", "audio/ogg", []byte("OggS voice"))

	cases := []struct {
		body []byte
		kind channels.AttachmentKind
		text string
		want []byte
		mime string
		name string
	}{
		{fake.PhotoUpdate(42, photo, "Котлета сгорела"), channels.Photo, "Котлета сгорела", jpeg, "image/jpeg", ""},
		{fake.DocumentUpdate(42, doc), channels.Document, "", []byte("%PDF-1.4 receipt"), "application/pdf", "чек.pdf"},
		{fake.VoiceUpdate(42, voice, 3), channels.Voice, "", []byte("OggS voice"), "audio/ogg", ""},
	}
	for _, tc := range cases {
		evs, _, err := telegram.ParseUpdate("", tc.body)
		if err != nil || len(evs) != 1 {
			t.Fatalf("parse: %v %v", evs, err)
		}
		ev := evs[0]
		if ev.Type != channels.EventText || ev.Text != tc.text || len(ev.Attachments) != 1 {
			t.Fatalf("event %+v", ev)
		}
		a := ev.Attachments[0]
		if a.Kind != tc.kind || a.Size != int64(len(tc.want)) || a.Name != tc.name {
			t.Errorf("attachment %+v", a)
		}
		channeltest.WantFile(t, c, a, tc.want, tc.mime, tc.name)
	}
	if n := fake.Calls("getFile"); n != 3 {
		t.Errorf("getFile calls = %d, want 3", n)
	}

	// Over the cap: refused by the size in the update, nothing downloaded.
	evs, _, _ := telegram.ParseUpdate("", fake.PhotoUpdate(42, photo, ""))
	channeltest.WantTooLarge(t, c, evs[0].Attachments[0], 100, int64(len(jpeg)))
	if n := fake.Calls("getFile"); n != 3 {
		t.Errorf("an oversize file was resolved: getFile calls = %d", n)
	}
	// Without a size in the update, the download stops at the cap.
	a := evs[0].Attachments[0]
	a.Size = 0
	channeltest.WantTooLarge(t, c, a, 100, 0)
	// An unknown file id is the Bot API's 400.
	if _, err := c.Fetch(context.Background(), channels.Attachment{Kind: channels.Photo, ProviderFileID: "nope"}, 100); channels.KindOf(err) != channels.Invalid {
		t.Errorf("unknown file: %v", err)
	}
}

// A button press carries the label of the pressed button from the message's
// keyboard.
func TestButtonPressCarriesLabel(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	res := channeltest.Send(t, c, channels.Message{To: "42", Text: "Понравилось?",
		Buttons: []channels.Button{{ID: "like", Text: "👍 Да"}, {ID: "dislike", Text: "👎 Нет"}}})
	_ = res
	sent := fake.SentTo(42)
	evs, _, err := telegram.ParseUpdate("", fake.CallbackUpdate(42, sent[0].MessageID, "dislike"))
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	if evs[0].Payload != "dislike" || evs[0].Label != "👎 Нет" {
		t.Errorf("press %+v", evs[0])
	}
}
