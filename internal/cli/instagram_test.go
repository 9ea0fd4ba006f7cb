package cli

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/instagram/instagramfake"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users"
)

// TestBrowserInstagramHandoffHumanAgent: a customer opts in through the
// ig.me ?ref= link, gets the campaign's question with quick replies in
// Instagram Direct, answers 👎; the hand-off reaches the manager's inbox.
// The manager's answer inside the 24-hour window goes out as a plain
// RESPONSE; a day later (the injected clock) the next one carries the
// HUMAN_AGENT tag — and the Instagram fake, which refuses untagged sends to
// a closed window, accepts it. A story mention then reaches the
// conversation as a link, its media not downloaded.
func TestBrowserInstagramHandoffHumanAgent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clk := clock.NewManual(testenv.ClockStart(t))
	e := newE2EClock(t, ctx, clk, func(time.Duration, func()) {}) // no receipts: none are needed here
	api := newAdminAPI(t, e)
	yaml, err := os.ReadFile("testdata/instagram/instagram-feedback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if code, b := api.applyCampaign(string(yaml)); code/100 != 2 {
		t.Fatalf("apply campaign: %d %s", code, b)
	}
	api.do("POST", "/v1/subscribers", map[string]any{"external_id": "ig-unhappy", "name": "Вера", "locale": "ru", "time_zone": "Europe/Moscow"}, 0, nil)
	sub := e.count(`SELECT id FROM subscribers WHERE external_id = 'ig-unhappy'`)

	// The shop's page shows the Instagram button: a code bound to the
	// customer, in the ig.me link Nudge builds from NUDGE_INSTAGRAM_USERNAME.
	code, err := consent.NewCodes(clk.Now).Create(e.ctx, e.d, consent.NewCode{SubscriberID: int64(sub), Source: consent.SourceJWTLink,
		Topics: []consent.Topic{consent.TopicService}, TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	link, err := consent.LoadConfig(e.a.Env).DeepLink(channels.Instagram, code.Code)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil || u.Host != "ig.me" || u.Path != "/m/"+fakes.InstagramUser || u.Query().Get("ref") != code.Code {
		t.Fatalf("deep link %q", link)
	}
	const igsid = "1254459154682919"
	e.f.Instagram.SetWebhook(channels.WebhookURL(e.base, channels.Instagram, channels.DefaultAccount))
	// A new thread: the ref rides on the icebreaker the customer taps.
	if err := e.f.Instagram.OpenLink(e.ctx, igsid, u.Query().Get("ref"), true); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the Instagram identity and consent", func() bool {
		return e.count(`SELECT count(*) FROM channel_identities WHERE subscriber_id = $1 AND channel = 'instagram' AND address = $2`, sub, igsid) == 1
	})

	api.do("POST", "/v1/subscribers/ig-unhappy/events", map[string]any{"name": "order.delivered", "idempotency_key": "ig-order-1"}, 0, nil)
	var ask instagramfake.Sent
	e.waitFor("the question with quick replies in Instagram", func() bool {
		if _, err := e.sched.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range e.f.Instagram.Sent() {
			msg, _ := m.Body["message"].(map[string]any)
			if qr, _ := msg["quick_replies"].([]any); m.To == igsid && len(qr) == 2 {
				ask = m
				return true
			}
		}
		return false
	})
	if ask.MessagingType != "RESPONSE" || ask.Tag != "" {
		t.Fatalf("question: %+v", ask)
	}
	if _, err := e.f.Instagram.QuickReply(e.ctx, igsid, "👎 Не очень", "dislike"); err != nil {
		t.Fatal(err)
	}
	var conv int
	e.waitFor("the hand-off in the inbox", func() bool {
		conv = e.count(`SELECT coalesce(max(c.id), 0) FROM conversations c WHERE c.subscriber_id = $1 AND c.channel = 'instagram'
			AND c.state = 'open' AND c.queue = 'care' AND c.reason = 'handoff'`, sub)
		return conv != 0
	})
	if n := e.count(`SELECT count(*) FROM conversations WHERE subscriber_id = $1`, sub); n != 1 {
		t.Fatalf("%d conversations, want the hand-off alone", n)
	}

	if _, err := users.NewStore(e.d, nil).Add(e.ctx, "care@growfood.example", users.Manager, "care-manager-pass", nil); err != nil {
		t.Fatal(err)
	}
	bctx := browsertest.New(t)
	browsertest.Login(t, bctx, e.base, "care@growfood.example", "care-manager-pass")
	// reply answers as the manager; shown selects the history row the page
	// after the post shows (the first manager row, then the second).
	reply := func(text, shown string) instagramfake.Sent {
		t.Helper()
		before := len(e.f.Instagram.Sent())
		browsertest.Run(t, bctx, 30*time.Second,
			chromedp.Navigate(e.base+"/inbox/"+strconv.Itoa(conv)),
			chromedp.WaitVisible(`#reply-text`, chromedp.ByID),
			chromedp.SendKeys(`#reply-text`, text, chromedp.ByID),
			chromedp.Submit(`#reply-text`, chromedp.ByID),
			// The page after the post shows one more manager row: the next
			// navigation must not abort that load.
			chromedp.WaitVisible(shown, chromedp.ByQuery))
		var got instagramfake.Sent
		e.waitFor("the manager's reply in Instagram", func() bool {
			sent := e.f.Instagram.Sent()
			if len(sent) > before {
				got = sent[len(sent)-1]
			}
			return len(sent) > before
		})
		if msg, _ := got.Body["message"].(map[string]any); got.To != igsid || msg["text"] != text {
			t.Fatalf("reply sent as %+v", got)
		}
		return got
	}
	if r := reply("Вера, простите! Заменим блюдо.", "tr.h-manager"); r.MessagingType != "RESPONSE" || r.Tag != "" {
		t.Fatalf("reply inside the window: %+v", r)
	}
	// A day and an hour later the window is closed: the fake now refuses an
	// untagged send, and the manager's reply goes with HUMAN_AGENT.
	clk.Advance(25 * time.Hour)
	e.f.Instagram.CloseWindow(igsid)
	if r := reply("Вера, новое блюдо уже в пути.", "tr.h-manager ~ tr.h-manager"); r.MessagingType != "MESSAGE_TAG" || r.Tag != "HUMAN_AGENT" {
		t.Fatalf("reply outside the window: %+v", r)
	}
	if n := e.count(`SELECT count(*) FROM messages WHERE subscriber_id = $1 AND channel = 'instagram' AND status = 'failed'`, sub); n != 0 {
		t.Fatalf("%d failed Instagram messages", n)
	}
	// The customer mentions the shop in a story: it joins the conversation
	// as its link; the story's media is never downloaded.
	story := "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000002&signature=AbFake"
	if _, err := e.f.Instagram.StoryMention(e.ctx, igsid, story); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the story mention in the inbox", func() bool {
		return e.count(`SELECT count(*) FROM reply_media WHERE subscriber_id = $1 AND channel = 'instagram' AND kind = 'story'
			AND name = 'mention' AND coalesce(length(data), 0) = 0 AND strpos(note, $2) > 0`, sub, story) == 1
	})
	// The admins' settings page lists the account with the URL to register.
	st, err := e.s.settings(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range st.Channels {
		found = found || c.Kind == "instagram" && c.Configured && c.Webhook == e.base+"/webhooks/instagram/main"
	}
	if !found {
		t.Errorf("settings: %+v", st.Channels)
	}
}
