package cli

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/users"
)

// TestBrowserChatPagePressReachesTheEngine: on the fakes' customer chat page
// (Chromium), a Viber customer presses 👎 under the feedback question; the
// press reaches the engine as Viber's own callback, signed with the bot
// token, and the engine (which refuses a callback whose signature does not
// match) routes it: the run takes the dislike branch and the customer is
// handed to the care queue. A second press, inside the open conversation,
// shows in the inbox by its button's label (Viber sends only the id).
func TestBrowserChatPagePressReachesTheEngine(t *testing.T) {
	e := newE2E(t)
	user := viberfake.UserID(901)
	e.seed([]demo.Person{{Ext: "viber-chat", Name: "Ирина", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.Viber, ViberID: user,
		Persona: "silent", Phone: "+79990000901", Email: "viber-chat@example.com"}})
	e.waitFor("the feedback question in Viber", func() bool {
		for _, m := range e.f.Viber.SentTo(user) {
			if len(m.Keyboard) > 0 {
				return true
			}
		}
		return false
	})
	ctl := httptest.NewServer(e.f.Handler())
	defer ctl.Close()
	ctx := browsertest.New(t)
	var list, status string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(ctl.URL+"/chat"),
		chromedp.WaitVisible(`#customers`, chromedp.ByID),
		chromedp.Text(`#customers`, &list, chromedp.ByID),
	)
	if !strings.Contains(list, "Ирина (viber-chat)") || !strings.Contains(list, "Viber") {
		t.Fatalf("the chat list has no Viber customer Ирина:\n%s", list)
	}
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Click(`//tr[contains(., "Viber")]//a`, chromedp.BySearch),
		chromedp.WaitVisible(`body.ch-viber button[data-press="dislike"]`, chromedp.ByQuery),
		chromedp.Click(`button[data-press="dislike"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('status').textContent.startsWith('Nudge answered')`, nil),
		chromedp.Text(`#status`, &status, chromedp.ByID),
	)
	if status != "Nudge answered 200" {
		t.Fatalf("after the press the page says %q", status)
	}
	e.waitFor("the press routed to the care hand-off", func() bool {
		return e.count(`SELECT count(*) FROM replies WHERE channel = 'viber' AND payload = 'dislike' AND outcome = 'branch' AND goto_step = 'care'`) == 1 &&
			e.count(`SELECT count(*) FROM conversations c JOIN subscribers s ON s.id = c.subscriber_id WHERE s.external_id = 'viber-chat'`) == 1
	})
	// The customer's side shows the press by the button's label.
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Poll(`[...document.querySelectorAll('.msg.customer.press')].some(m => m.textContent.includes('pressed'))`, nil))
	// A second press, now inside the open conversation: the manager reads
	// the button's label, not its id.
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Evaluate(`document.getElementById('status').textContent = ''`, nil),
		chromedp.Click(`button[data-press="like"]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('status').textContent.startsWith('Nudge answered')`, nil),
	)
	e.waitFor("the second press in the conversation", func() bool {
		return e.count(`SELECT count(*) FROM replies WHERE channel = 'viber' AND outcome = 'inbox'`) == 1
	})
	var conv int64
	if err := e.d.Get(&conv, `SELECT id FROM conversations`); err != nil {
		t.Fatal(err)
	}
	if _, err := users.NewStore(e.d, nil).Add(e.ctx, "care@growfood.example", users.Manager, "care-manager-pass", nil); err != nil {
		t.Fatal(err)
	}
	browsertest.Login(t, ctx, e.base, "care@growfood.example", "care-manager-pass")
	var history string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(e.base+"/inbox/"+strconv.FormatInt(conv, 10)),
		chromedp.WaitVisible(`#live table`, chromedp.ByQuery),
		chromedp.Text(`#live tbody`, &history, chromedp.ByQuery),
	)
	if !strings.Contains(history, "👍 Понравилось") || strings.Contains(history, "[like]") {
		t.Errorf("the press inside the conversation is not shown by its label:\n%s", history)
	}
	// The webhook the page's press went to checks the signature: the same
	// press with a wrong one is refused and routes nothing.
	st, _, err := e.f.Viber.PostSigned(e.ctx, channels.WebhookURL(e.base, channels.Viber, channels.DefaultAccount), "0badc0de",
		e.f.Viber.Message(user, "dislike", ""))
	if err != nil {
		t.Fatal(err)
	}
	if st < 400 || st >= 500 {
		t.Errorf("a press with a forged signature: %d, want a 4xx", st)
	}
	if n := e.count(`SELECT count(*) FROM replies WHERE channel = 'viber'`); n != 2 {
		t.Errorf("%d Viber replies after the forged press, want 1", n)
	}
}
