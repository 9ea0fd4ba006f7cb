package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

// twoBotsCampaign asks through the bot brand-b and answers a press there.
const twoBotsCampaign = `id: two-bots
name: Brand B feedback
topic: service
audience: {consent: service}
trigger: {api: {}}
settings:
  channels: [telegram]
  accounts: {telegram: brand-b}
steps:
  - id: question
    send: {template: question}
  - id: reply
    wait_reply: {timeout: 24h, branches: [{button: like, goto: thanks}]}
  - id: thanks
    send: {template: thanks}
templates:
  question:
    default:
      ru:
        text: "Как вам еда бренда B?"
        buttons: [{id: like, text: "👍"}]
  thanks:
    default:
      ru: {text: "Спасибо от бренда B!"}
`

// renewCampaign charges through a bot (the account, given twice) in RUB.
const renewCampaign = `id: renew-%s
name: Renewal
topic: service
audience: {consent: service}
trigger: {api: {}}
settings:
  channels: [telegram]
  accounts: {telegram: %s}
steps:
  - id: pay
    send: {template: pay}
templates:
  pay:
    default:
      ru:
        text: "Продлить подписку"
        buttons:
          - text: "Оплатить 990 ₽"
            url: "https://shop.example/renew"
            pay: {amount: "990", currency: RUB, product: weekly-box, title: Неделя ужинов}
`

// brandBToken is the second bot's token (the fake accepts one token each).
const brandBToken = "7098765432:BBFh3kQ9xYvZ2mN8pL4rT6sW1uE5oI7cB0d"

// Two Telegram bots in one install, `nudge run` as a real process
// configured only by its environment: a customer opts in on bot brand-b; a
// campaign naming brand-b sends through that bot's token only; the press
// arriving on brand-b's webhook resumes the run; the same chat id writing
// to the main bot is a different identity, of an anonymous subscriber. The
// settings page lists both bots with their webhooks.
func TestTwoTelegramBotsEndToEnd(t *testing.T) {
	botA, botB := telegramfake.New(), telegramfake.New()
	t.Cleanup(botA.Close)
	t.Cleanup(botB.Close)
	botB.Token = brandBToken
	addr := testenv.FreeAddr(t) // the process listens there
	base := "http://" + addr
	dbURL := testenv.DBURL(t)
	vars := map[string]string{
		"NUDGE_DATABASE_URL": dbURL, "NUDGE_REDIS_URL": testenv.Redis(t), "NUDGE_BASE_URL": base, "NUDGE_HTTP_ADDR": addr,
		"NUDGE_WORKER_POLL": "100ms", "NUDGE_LOG_LEVEL": "warn",
		"NUDGE_TELEGRAM_TOKEN": botA.Token, "NUDGE_TELEGRAM_API_URL": botA.URL, "NUDGE_TELEGRAM_WEBHOOK_SECRET": "secret-A",
		"NUDGE_TELEGRAM_ACCOUNTS":      "brand-b",
		"NUDGE_TELEGRAM_BRAND_B_TOKEN": botB.Token, "NUDGE_TELEGRAM_BRAND_B_API_URL": botB.URL,
		"NUDGE_TELEGRAM_BRAND_B_WEBHOOK_SECRET":         "secret-B",
		"NUDGE_TELEGRAM_BRAND_B_PAYMENT_PROVIDER_TOKEN": telegramfake.ProviderToken,
	}
	ctx := context.Background()
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	// The marketer lints and applies the campaign with the install's
	// configuration: brand-b is a configured bot, brand-c is not.
	dir := t.TempDir()
	path := filepath.Join(dir, "two-bots.yaml")
	if err := os.WriteFile(path, []byte(twoBotsCampaign), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runWith(t, vars, "campaign", "lint", path); err != nil {
		t.Fatalf("lint: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(twoBotsCampaign, "brand-b", "brand-c", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runWith(t, vars, "campaign", "lint", bad); err == nil || !strings.Contains(out, "bad.yaml:8:") ||
		!strings.Contains(out, "unknown-account") {
		t.Fatalf("lint of brand-c: %v\n%s", err, out)
	}
	if out, err := runWith(t, vars, "campaign", "apply", path); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// A renewal with a RUB pay button on each bot: bot B has a payment
	// provider token, the main bot has none.
	for _, acc := range []string{"brand-b", "main"} {
		p := filepath.Join(dir, "renew-"+acc+".yaml")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(renewCampaign, acc, acc)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runWith(t, vars, "campaign", "apply", p); err != nil {
			t.Fatalf("apply %s: %v\n%s", p, err, out)
		}
	}
	keyOut, err := runWith(t, vars, "apikeys", "create", "shop")
	if err != nil {
		t.Fatalf("apikeys: %v\n%s", err, keyOut)
	}
	key := strings.TrimSpace(strings.SplitN(keyOut, "\n", 2)[0])

	proc := testenv.StartNudge(t, "nudge run", vars, "run")
	const patience = 90 * time.Second // bounds a broken run only
	proc.WaitFor("nudge run to serve", patience, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// Each bot registers its own webhook (`nudge channels setup telegram
	// [--account brand-b]`).
	for _, acc := range []string{"main", "brand-b"} {
		if out, err := runWith(t, vars, "channels", "setup", "telegram", "--account", acc); err != nil {
			t.Fatalf("setup %s: %v\n%s", acc, err, out)
		}
	}
	if u, secret, _ := botB.Webhook(); u != base+"/webhooks/telegram/brand-b" || secret != "secret-B" {
		t.Fatalf("bot B webhook %s %s", u, secret)
	}
	if u, _, _ := botA.Webhook(); u != base+"/webhooks/telegram/main" {
		t.Fatalf("bot A webhook %s", u)
	}

	// The shop's backend knows Anna and mints her opt-in code; she starts
	// bot B with it.
	const chat = 770001
	anna, _, err := subscribers.NewStore(d, nil).Upsert(ctx, subscribers.Input{ExternalID: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := consent.NewCodes(nil).Create(ctx, d, consent.NewCode{SubscriberID: anna.ID, Source: consent.SourceJWTLink,
		Topics: []campaigns.Topic{campaigns.TopicService}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	post(t, botB, botB.TextUpdate(chat, "/start "+code.Code))
	// The same chat id writes to the main bot: another identity.
	post(t, botA, botA.TextUpdate(chat, "привет"))
	proc.WaitFor("both identities", patience, func() bool {
		return testenv.Count(t, ctx, d, `SELECT count(*) FROM channel_identities WHERE channel = 'telegram' AND address = $1`, fmt.Sprint(chat)) == 2
	})
	var owners []struct {
		Account string `db:"account"`
		Sub     int64  `db:"subscriber_id"`
	}
	if err := d.SelectContext(ctx, &owners, `SELECT account, subscriber_id FROM channel_identities
		WHERE channel = 'telegram' AND address = $1 ORDER BY account`, fmt.Sprint(chat)); err != nil {
		t.Fatal(err)
	}
	if len(owners) != 2 || owners[0].Account != "brand-b" || owners[0].Sub != anna.ID || owners[1].Account != "main" || owners[1].Sub == anna.ID {
		t.Fatalf("identities %+v (anna is %d)", owners, anna.ID)
	}
	var proofAccount string
	if err := d.GetContext(ctx, &proofAccount, `SELECT proof->>'account' FROM consent_events
		WHERE subscriber_id = $1 AND channel = 'telegram' AND granted ORDER BY id LIMIT 1`, anna.ID); err != nil || proofAccount != "brand-b" {
		t.Fatalf("consent proof account %q %v", proofAccount, err)
	}

	// The shop triggers the campaign for Anna: bot B asks, bot A says nothing.
	api := &adminAPI{t: t, base: base, key: key}
	api.do(http.MethodPost, "/v1/campaigns/two-bots/trigger", map[string]any{"subscriber": "anna"}, 0, nil)
	var ask telegramfake.Sent
	proc.WaitFor("the question through bot B", patience, func() bool {
		for _, m := range botB.SentTo(chat) {
			if len(m.Keyboard) > 0 {
				ask = m
				return true
			}
		}
		return false
	})
	post(t, botB, botB.CallbackUpdate(chat, ask.MessageID, "like"))
	proc.WaitFor("the thanks through bot B", patience, func() bool {
		for _, m := range botB.SentTo(chat) {
			if strings.Contains(m.Text, "Спасибо от бренда B") {
				return true
			}
		}
		return false
	})
	if sent := botA.Sent(); len(sent) != 0 {
		t.Errorf("bot A sent %+v", sent)
	}
	// The row says sent once the worker commits, just after the fake has the message.
	proc.WaitFor("both messages of brand-b recorded sent", patience, func() bool {
		return testenv.Count(t, ctx, d, `SELECT count(*) FROM messages WHERE campaign_id = 'two-bots' AND account = 'brand-b' AND status IN ('sent', 'delivered', 'read')`) == 2
	})

	// The settings page lists both bots with their webhooks.
	if _, err := users.NewStore(d, nil).Add(ctx, "admin@shop.example", users.Admin, "admin-pass-123", nil); err != nil {
		t.Fatal(err)
	}
	bctx := browsertest.New(t)
	browsertest.Login(t, bctx, base, "admin@shop.example", "admin-pass-123")
	var table string
	browsertest.Run(t, bctx, 30*time.Second, chromedp.Navigate(base+"/settings"),
		chromedp.WaitVisible(`#channels`, chromedp.ByID), chromedp.Text(`#channels`, &table, chromedp.ByID))
	for _, want := range []string{"main", base + "/webhooks/telegram/main", "brand-b", base + "/webhooks/telegram/brand-b"} {
		if !strings.Contains(table, want) {
			t.Errorf("settings page lacks %q:\n%s", want, table)
		}
	}
	// Each bot's payment setup: bot B sends invoices in RUB, the main bot
	// has no provider token and sends RUB as links; the token is never shown.
	var pays map[string]string
	browsertest.Run(t, bctx, 30*time.Second, chromedp.Evaluate(`Object.fromEntries(Array.from(
		document.querySelectorAll('#channels tr[data-channel="telegram"]')).map(tr => [tr.dataset.account,
		tr.querySelector('td.payments').textContent.replace(/\s+/g, ' ').trim()]))`, &pays))
	if b := pays["brand-b"]; !strings.Contains(b, "provider token set") || !strings.Contains(b, "RUB") || strings.Contains(b, "payment links") {
		t.Errorf("brand-b payments %q", b)
	}
	if m := pays["main"]; !strings.Contains(m, "Stars only") || !strings.Contains(m, "RUB as payment links") {
		t.Errorf("main payments %q", m)
	}
	var html string
	browsertest.Run(t, bctx, 10*time.Second, chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, telegramfake.ProviderToken) {
		t.Error("the settings page shows the provider token")
	}
}

func post(t *testing.T, bot *telegramfake.Server, update []byte) {
	t.Helper()
	if code, err := bot.Post(context.Background(), update); err != nil || code != http.StatusOK {
		t.Fatalf("webhook: %d %v", code, err)
	}
}
