package instagram_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
)

// A photo a person sends arrives through the signed webhook and is
// downloaded from its CDN URL within the cap; a story never is.
func TestAttachmentFetchAndStoryRefused(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte{7}, 2000)...)
	url := s.Fake.AddFile("image/jpeg", "", jpeg)
	if _, err := s.Fake.Attachment(ctx, "ig5", "image", url, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fake.StoryMention(ctx, "ig5", s.Fake.AddFile("image/jpeg", "", jpeg)); err != nil {
		t.Fatal(err)
	}
	evs := s.Sink.Events()
	if len(evs) != 2 || len(evs[0].Attachments) != 1 || len(evs[1].Attachments) != 1 {
		t.Fatalf("%+v", evs)
	}
	channeltest.WantFile(t, s.Client, evs[0].Attachments[0], jpeg, "image/jpeg", "")
	channeltest.WantTooLarge(t, s.Client, evs[0].Attachments[0], 100, 0)
	story := evs[1].Attachments[0]
	if story.Kind != channels.Story {
		t.Fatalf("%+v", story)
	}
	before := s.Fake.FileDownloads()
	if _, err := s.Client.Fetch(ctx, story, 1<<20); err == nil || !strings.Contains(err.Error(), "not kept") {
		t.Fatalf("story fetched: %v", err)
	}
	if s.Fake.FileDownloads() != before {
		t.Fatal("story media was downloaded")
	}
}
