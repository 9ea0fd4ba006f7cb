package viber_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber"
)

// An album goes as a rich_media carousel of one card per photo, then the
// text with its keyboard, whose token is the result.
func TestSendCarousel(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	res := channeltest.Send(t, c, channels.Message{To: "01234567890A=", Text: "Меню недели", Images: channeltest.ImageURLs(3),
		Buttons: []channels.Button{{ID: "renew", Text: "Продлить"}}})
	s := fake.Sent()
	if len(s) != 2 || s[0].Type != "rich_media" || fmt.Sprint(s[0].Images) != fmt.Sprint(channeltest.ImageURLs(3)) {
		t.Fatalf("sent %+v", s)
	}
	if s[1].Type != "text" || s[1].Text != "Меню недели" || len(s[1].Keyboard) != 1 || res.ProviderID != strconv.FormatInt(s[1].MessageToken, 10) {
		t.Errorf("text %+v result %+v", s[1], res)
	}
}

// Seven photos are refused before a request; the fake refuses a carousel
// of seven cards, one with an old min_api_version, and a button outside
// the grid.
func TestCarouselLimits(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	channeltest.WantRefused(t, c, channels.Message{To: "01234567890A=", Text: "x", Images: channeltest.ImageURLs(7)}, channels.Invalid, "local",
		func() int { return len(fake.Sent()) })
	ok, err := c.BuildCarousel(channels.Message{To: "01234567890A=", Text: "x", Images: channeltest.ImageURLs(6)})
	if err != nil {
		t.Fatal(err)
	}
	seven := ok
	rm := *ok.RichMedia
	rm.Buttons = append(append([]viber.RichButton(nil), rm.Buttons...), rm.Buttons[0])
	seven.RichMedia = &rm
	old := ok
	old.MinAPIVersion = 1
	wide := ok
	wrm := *ok.RichMedia
	wrm.Buttons = []viber.RichButton{{Columns: 7, Rows: 1, ActionType: "open-url", ActionBody: "https://x.example"}}
	wide.RichMedia = &wrm
	for name, m := range map[string]viber.OutMessage{"seven cards": seven, "api 1": old, "outside the grid": wide} {
		err := c.Call(context.Background(), "send_message", m, nil)
		if channels.KindOf(err) != channels.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := c.Call(context.Background(), "send_message", ok, nil); err != nil {
		t.Errorf("six cards: %v", err)
	}
}
