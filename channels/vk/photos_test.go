package vk_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/uploads"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func jpeg(tag string) []byte {
	return append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, bytes.Repeat([]byte(tag), 200)...)
}

// An album of two image URLs is uploaded through the three calls of the
// upload flow and sent as two photo attachments of one message, each with
// the access key VK returned.
func TestSendUploadsAlbum(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	a, b := fake.AddFile("image/jpeg", jpeg("a")), fake.AddFile("image/png", append([]byte("\x89PNG\r\n\x1a\n"), jpeg("b")...))
	channeltest.Send(t, c, channels.Message{IdempotencyKey: "k1", To: "42", Text: "Меню недели", Images: []string{a, b}})
	ps := fake.Photos()
	if len(ps) != 2 || fake.UploadServers() != 2 || ps[0].PeerID != 42 || ps[0].MIME != "image/jpeg" || ps[1].MIME != "image/png" {
		t.Fatalf("photos %+v, upload servers %d", ps, fake.UploadServers())
	}
	sent := fake.SentTo(42)
	want := ps[0].Attachment() + "," + ps[1].Attachment()
	if len(sent) != 1 || sent[0].Attachment != want || sent[0].Text != "Меню недели" {
		t.Fatalf("sent %+v, want attachment %s", sent, want)
	}
}

// With the Postgres cache an image URL is uploaded once per account, even
// when several sends of it race; every message carries the same photo.
func TestPhotoCacheUploadsOnce(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	c.UsePhotoCache(uploads.New(testenv.DB(t), nil))
	img := fake.AddFile("image/jpeg", jpeg("menu"))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, peer := range []string{"101", "102", "103", "104"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Send(context.Background(), channels.Message{IdempotencyKey: "m" + peer, To: peer, Text: "Меню " + string(rune('A'+i)), ImageURL: img})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ps := fake.Photos()
	if len(ps) != 1 || fake.UploadServers() != 1 {
		t.Fatalf("%d photos saved, %d upload servers: want one upload", len(ps), fake.UploadServers())
	}
	for _, m := range fake.Sent() {
		if m.Attachment != ps[0].Attachment() {
			t.Errorf("message to %d carries %q, want %q", m.PeerID, m.Attachment, ps[0].Attachment())
		}
	}
	if len(fake.Sent()) != 4 {
		t.Errorf("%d messages sent, want 4", len(fake.Sent()))
	}
}

// What cannot become a VK photo is refused before messages.send, with the
// reason: a file that is not a JPG, PNG or GIF, and an image URL that is gone.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	ctx := context.Background()
	pdf := fake.AddFile("image/jpeg", []byte("%PDF-1.7 not an image at all"))
	_, err := c.Send(ctx, channels.Message{To: "7", Text: "x", ImageURL: pdf})
	if ce := channeltest.WantError(t, err, channels.Invalid, "local"); !strings.Contains(ce.Message, "VK takes JPG, PNG or GIF") {
		t.Errorf("not an image: %v", err)
	}
	_, err = c.Send(ctx, channels.Message{To: "7", Text: "x", ImageURL: fake.URL + "/userapi/gone.jpg"})
	if channels.KindOf(err) != channels.Invalid || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing image: %v", err)
	}
	if len(fake.Sent()) != 0 || len(fake.Photos()) != 0 {
		t.Errorf("sent %+v photos %+v", fake.Sent(), fake.Photos())
	}
}
