package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

// linksCampaign has a link in its text and a link button; its UTM source
// is overridden, the rest are the defaults.
const linksCampaign = `id: menu-links
name: Menu with links
topic: service
trigger:
  event:
    name: menu.ready
settings:
  channels: [telegram]
links:
  utm: {source: tg_bot}
steps:
  - id: menu
    send: {template: menu}
templates:
  menu:
    default:
      ru:
        text: "Меню недели: https://shop.example/menu?week=49. Выбирайте!"
        buttons:
          - {text: "Заказать", url: "https://shop.example/order"}
`

// plainLinksCampaign opts out: its links go out as written.
const plainLinksCampaign = `id: menu-plain
name: Menu, untracked
topic: service
trigger:
  event:
    name: menu.plain
settings:
  channels: [telegram]
links:
  track: false
steps:
  - id: menu
    send: {template: menu}
templates:
  menu:
    default:
      ru:
        text: "Без трекинга: https://shop.example/menu?week=49"
`

// TestTrackedLinksEndToEnd: a campaign with links runs through the real
// worker to the Telegram fake, which receives /l/ links in the text and the
// button; a link-preview bot's GET redirects without counting; a person's
// GET redirects with the UTM parameters and nudge_click and counts once
// (first click kept on a second); a tampered code is 404; the funnel (API
// and `nudge campaign funnel`) shows the click by step and channel;
// GET /v1/clicks/{code} attributes it with an API key; a campaign with
// track: false sends its link untouched; erasure stops the redirect and
// keeps the count.
func TestTrackedLinksEndToEnd(t *testing.T) {
	e := newE2E(t)
	const chat = 731001
	e.seed([]demo.Person{{Ext: "links-1", Name: "Ида", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.Telegram, Chat: chat,
		Persona: "silent", Phone: "+79990000731", Email: "links-1@example.com"}})
	e.applyCampaigns(map[string]string{"menu-links.yaml": linksCampaign, "menu-plain.yaml": plainLinksCampaign})
	at := e.now()
	if _, err := subscribers.NewStore(e.d, e.now).AddEvents(e.ctx, []subscribers.Event{
		{ExternalID: "links-1", Name: "menu.ready", OccurredAt: &at, IdempotencyKey: "menu-1"},
		{ExternalID: "links-1", Name: "menu.plain", OccurredAt: &at, IdempotencyKey: "menu-2"}}); err != nil {
		t.Fatal(err)
	}
	var tracked, plain *telegramfake.Sent
	e.waitFor("both menus at the Telegram fake", func() bool {
		if _, err := e.sched.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range e.f.Telegram.SentTo(chat) {
			switch {
			case strings.HasPrefix(m.Text, "Меню недели"):
				tracked = &m
			case strings.HasPrefix(m.Text, "Без трекинга"):
				plain = &m
			}
		}
		return tracked != nil && plain != nil
	})
	if plain.Text != "Без трекинга: https://shop.example/menu?week=49" {
		t.Errorf("track: false changed the link: %q", plain.Text)
	}
	codeRe := regexp.MustCompile(`^Меню недели: ` + regexp.QuoteMeta(e.base) + `/l/([A-Za-z0-9_-]{16})\. Выбирайте!$`)
	mt := codeRe.FindStringSubmatch(tracked.Text)
	if mt == nil {
		t.Fatalf("the text link is not a tracked /l/ link: %q", tracked.Text)
	}
	code := mt[1]
	if len(tracked.Keyboard) != 1 || len(tracked.Keyboard[0]) != 1 {
		t.Fatalf("keyboard: %+v", tracked.Keyboard)
	}
	button := tracked.Keyboard[0][0].URL
	if !strings.HasPrefix(button, e.base+"/l/") || strings.HasSuffix(button, code) {
		t.Fatalf("the button is not a link of its own: %q (text code %s)", button, code)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, ua string, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, e.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", ua)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	counts := func() (clicks, bots int) {
		t.Helper()
		if err := e.d.QueryRowContext(e.ctx, `SELECT clicks, bot_clicks FROM links WHERE code = $1`, code).Scan(&clicks, &bots); err != nil {
			t.Fatal(err)
		}
		return
	}

	// Telegram unfurls the link before anyone taps it.
	res := get("/l/"+code, "TelegramBot (like TwitterBot)")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("bot: %d", res.StatusCode)
	}
	if c, b := counts(); c != 0 || b != 1 {
		t.Fatalf("after the preview bot: %d clicks, %d bot fetches; want 0, 1", c, b)
	}
	firstAt := e.now()
	res = get("/l/"+code, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("click: %d", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Host != "shop.example" || loc.Path != "/menu" || q.Get("week") != "49" || q.Get("utm_source") != "tg_bot" ||
		q.Get("utm_medium") != "telegram" || q.Get("utm_campaign") != "menu-links" || q.Get("utm_content") != "menu" ||
		q.Get(links.ClickParam) != code {
		t.Fatalf("redirect to %s", loc)
	}
	get("/l/"+code, "Mozilla/5.0 (Linux; Android 14) Chrome/120 Mobile")
	if c, b := counts(); c != 2 || b != 1 {
		t.Fatalf("after two taps: %d clicks, %d bot fetches; want 2, 1", c, b)
	}
	tampered := code[:15] + "A"
	if code[15] == 'A' {
		tampered = code[:15] + "B"
	}
	for _, bad := range []string{tampered, code[:15], "not-a-code"} {
		if res := get("/l/"+bad, "Mozilla/5.0"); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /l/%s: %d, want 404", bad, res.StatusCode)
		}
	}

	an := analytics.New(e.d)
	f, err := an.Funnel(e.ctx, "menu-links", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Sent != 1 || f.Clicked != 1 || len(f.Clicks) != 1 {
		t.Fatalf("funnel: sent %d, clicked %d, by step %+v", f.Sent, f.Clicked, f.Clicks)
	}
	if c := f.Clicks[0]; c.Step != "menu" || c.Channel != "telegram" || c.Sent != 1 || c.WithLinks != 1 || c.Clicked != 1 ||
		c.Clicks != 2 || c.BotClicks != 1 {
		t.Fatalf("clicks by step and channel: %+v", c)
	}
	if p, _ := an.Funnel(e.ctx, "menu-plain", ""); p.Clicked != 0 || len(p.Clicks) != 0 || p.Sent != 1 {
		t.Fatalf("untracked funnel: %+v", p)
	}
	env := map[string]string{"NUDGE_DATABASE_URL": e.a.Env.String("NUDGE_DATABASE_URL", "")}
	code1, out, errOut := runCLI(t, env, "campaign", "funnel", "menu-links")
	if code1 != 0 || !regexp.MustCompile(`Clicked\s+1\s+100\.0%`).MatchString(out) ||
		!regexp.MustCompile(`menu\s+telegram\s+1\s+1\s+1\s+100\.0%\s+2\s+1`).MatchString(out) {
		t.Fatalf("nudge campaign funnel: %d %s %s", code1, out, errOut)
	}

	// The shop's backend attributes an order to the click.
	_, secret, err := apikeys.NewStore(e.d, nil).Create(e.ctx, "shop", users.Marketer)
	if err != nil {
		t.Fatal(err)
	}
	if res := get("/v1/clicks/"+code, "shop-backend"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/clicks without a key: %d", res.StatusCode)
	}
	res = get("/v1/clicks/"+code, "shop-backend", "Authorization", "Bearer "+secret)
	var click links.Click
	if err := json.NewDecoder(res.Body).Decode(&click); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/clicks: %d %v", res.StatusCode, err)
	}
	var subID, msgID int64
	if err := e.d.QueryRowContext(e.ctx, `SELECT m.subscriber_id, m.id FROM messages m WHERE m.campaign_id = 'menu-links'`).Scan(&subID, &msgID); err != nil {
		t.Fatal(err)
	}
	if click.SubscriberID == nil || *click.SubscriberID != subID || click.ExternalID != "links-1" || click.CampaignID != "menu-links" ||
		click.StepID != "menu" || click.Channel != "telegram" || click.MessageID == nil || *click.MessageID != msgID ||
		click.Clicks != 2 || click.FirstClickAt == nil || click.FirstClickAt.Before(firstAt.Add(-time.Second)) ||
		click.URL != "https://shop.example/menu?week=49" {
		t.Fatalf("click: %+v (subscriber %d, message %d)", click, subID, msgID)
	}
	if res := get("/v1/clicks/"+tampered, "shop-backend", "Authorization", "Bearer "+secret); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/clicks of a tampered code: %d", res.StatusCode)
	}

	// The dashboard: the Clicked stage of the funnel and the table by step
	// and channel, on the page and in its CSV.
	res = get("/dashboard/menu-links/csv?table=clicks", "shop-backend", "Authorization", "Bearer "+secret)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "step,channel,sent,with_links,clicked,click_rate,clicks,link_previews\nmenu,telegram,1,1,1,1.0000,2,1\n") {
		t.Fatalf("clicks CSV: %d %q", res.StatusCode, body)
	}
	if _, err := users.NewStore(e.d, nil).Add(e.ctx, "ana@growfood.example", users.Marketer, "marketer-pass-123", nil); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	browsertest.Login(t, b, e.base, "ana@growfood.example", "marketer-pass-123")
	var stages, rows [][]string
	browsertest.Run(t, b, 30*time.Second,
		chromedp.Navigate(e.base+"/dashboard/menu-links"),
		chromedp.WaitVisible(`#clicks`, chromedp.ByID),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#funnel tbody tr')).map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`, &stages),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#clicks tbody tr')).map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`, &rows),
	)
	if !strings.Contains(fmt.Sprint(stages), "[Read 0 0.0%] [Clicked 1 100.0%]") || fmt.Sprint(rows) != "[[menu telegram 1 1 1 100.0% 2 1]]" {
		t.Fatalf("dashboard funnel %v, clicks %v", stages, rows)
	}

	// Erasure: the link no longer leads anywhere or names anyone; the count stays.
	if _, err := subscriberStore(e.d, e.now).Erase(e.ctx, "links-1"); err != nil {
		t.Fatal(err)
	}
	if res := get("/l/"+code, "Mozilla/5.0"); res.StatusCode != http.StatusNotFound {
		t.Errorf("an erased subscriber's link: %d, want 404", res.StatusCode)
	}
	if n := e.count(`SELECT count(*) FROM links WHERE subscriber_id IS NOT NULL OR url <> '' OR target <> ''`); n != 0 {
		t.Errorf("%d links still name the erased subscriber or their URL", n)
	}
	if f, _ := an.Funnel(e.ctx, "menu-links", ""); f.Clicked != 1 {
		t.Errorf("after erasure the funnel shows %d clicked, want 1", f.Clicked)
	}
}
