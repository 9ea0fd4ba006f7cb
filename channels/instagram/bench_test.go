package instagram_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/instagram"
	"github.com/nudge-engine/nudge/channels/instagram/instagramfake"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/meta"
)

// BenchmarkSend sends the feedback question with quick replies through the
// fake (no account rate); BenchmarkParse reads a story reply webhook.
func BenchmarkSend(b *testing.B) {
	f := instagramfake.New(instagramfake.Options{PerSecond: -1})
	defer f.Close()
	o := f.Options()
	c := instagram.New(instagram.Config{App: meta.App{APIURL: f.URL()}, Token: o.PageToken, AccountID: o.PageID}, nil)
	ask := channels.Message{Text: "Как вам ужин?", Buttons: []channels.Button{{ID: "like", Text: "👍"}, {ID: "dislike", Text: "👎"}}}
	channeltest.BenchSend(b, c, ask, func(m *channels.Message, i int) { m.To = "igsid" + strconv.Itoa(i) })
}

func BenchmarkParse(b *testing.B) {
	channeltest.BenchParse(b, "story_reply.json", func(body []byte) error {
		if evs, err := instagram.Parse(body, "ig"); err != nil || len(evs) != 1 {
			return fmt.Errorf("%d events, want 1: %v", len(evs), err)
		}
		return nil
	})
}
