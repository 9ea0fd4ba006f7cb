package channels_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

func TestCheckFetchBeforeAnyRequest(t *testing.T) {
	a := channels.Attachment{Kind: channels.Photo, URL: "https://cdn.example/p.jpg", Size: 2048}
	if err := a.CheckFetch("viber media", "url", a.URL, 4096); err != nil {
		t.Fatalf("within the cap: %v", err)
	}
	if err := a.CheckFetch("telegram getFile", "file_id", a.ProviderFileID, 4096); err == nil || err.Error() != "telegram getFile: attachment has no file_id" {
		t.Errorf("no file id: %v", err)
	}
	if tl, ok := channels.IsTooLarge(a.CheckFetch("viber media", "url", a.URL, 1024)); !ok || tl.Size != 2048 || tl.Max != 1024 {
		t.Errorf("over the cap: %+v %v", tl, ok)
	}
}
