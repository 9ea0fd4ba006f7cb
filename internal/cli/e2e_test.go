package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/users"
)

// e2e is the whole engine against the provider fakes on a fast clock: real
// adapters, webhooks, inbound sink, worker, inbox and web UI.
type e2e struct {
	t     testing.TB
	ctx   context.Context
	a     *App
	s     *stack
	d     *sqlx.DB
	f     *fakes.Set
	base  string
	now   func() time.Time
	after func(time.Duration, func())
	sched *scheduler.Scheduler
	// stop ends the worker and the background loops and waits for them; the
	// HTTP server keeps serving.
	stop func()
}

// scale: 15 minutes of flow time take 0.3 s.
const e2eScale = 3000

func newE2E(t testing.TB) *e2e { return newE2EAt(t, e2eScale) }

// newE2EAt builds the engine with flow time running scale times faster.
func newE2EAt(t testing.TB, scale float64) *e2e {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	start := testenv.ClockStart(t)
	var clk clock.Clock = clock.NewScaled(start, scale)
	if scale == 1 {
		clk = clock.Real{}
	}
	after := func(d time.Duration, f func()) { time.AfterFunc(time.Duration(float64(d)/scale), f) }
	return newE2EClock(t, ctx, clk, after)
}

// newE2EClock builds the engine on clk; the fakes schedule their receipts
// with after.
func newE2EClock(t testing.TB, ctx context.Context, clk clock.Clock, after func(time.Duration, func())) *e2e {
	t.Helper()
	f, ln := startFakes(t, fakes.Options{Now: clk.Now, After: after})
	base := "http://" + ln.Addr().String()
	dbURL := testenv.DBURL(t)
	vars := demo.Env(f, base)
	for k, v := range map[string]string{"NUDGE_DATABASE_URL": dbURL, "NUDGE_REDIS_URL": testenv.Redis(t), "NUDGE_BASE_URL": base,
		"NUDGE_WORKER_POLL": "50ms", "NUDGE_LOG_LEVEL": "error", "NUDGE_WORKER_TASK_CHECK": os.Getenv("NUDGE_WORKER_TASK_CHECK")} {
		vars[k] = v
	}
	a := &App{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})),
		Env: &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}}
	c, err := a.loadStackConfig()
	if err != nil {
		t.Fatal(err)
	}
	c.clock = clk
	s, d := a.startServing(t, c, dbURL, ln)
	engineCtx, stopEngine := context.WithCancel(ctx)
	var engine sync.WaitGroup
	engine.Add(2)
	go func() { defer engine.Done(); s.rt.work(engineCtx) }()
	go func() { defer engine.Done(); s.loops(engineCtx) }()
	f.Telegram.SetWebhook(channels.WebhookURL(base, channels.Telegram, channels.DefaultAccount), vars["NUDGE_TELEGRAM_WEBHOOK_SECRET"])
	f.Viber.SetWebhook(channels.WebhookURL(base, channels.Viber, channels.DefaultAccount))
	e := &e2e{t: t, ctx: ctx, a: a, s: s, d: d, f: f, base: base, now: clk.Now, after: after,
		sched: scheduler.New(d, clk.Now, a.Log, c.sched), stop: func() { stopEngine(); engine.Wait() }}
	return e
}

// newFakes starts the provider fakes, closed at cleanup.
func newFakes(t testing.TB, o fakes.Options) *fakes.Set {
	t.Helper()
	f, err := fakes.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// startFakes starts the provider fakes and a listener for Nudge's HTTP
// server on a free local port.
func startFakes(t testing.TB, o fakes.Options) (*fakes.Set, net.Listener) {
	t.Helper()
	f := newFakes(t, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return f, ln
}

// seed brings people in as the demo does (campaigns, consent, deep-link
// starts, last week's deliveries) and creates their feedback runs.
func (e *e2e) seed(people []demo.Person) {
	e.t.Helper()
	e.t.Chdir("../..") // examples/growfood
	if err := demo.Seed(e.ctx, e.d, e.f, people, e.now, io.Discard); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor("feedback runs", func() bool {
		if _, err := e.sched.RunOnce(e.ctx); err != nil {
			e.t.Fatal(err)
		}
		return e.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'weekly-feedback'`) == len(people)
	})
}

// apply lints and applies the campaign file src as name.yaml.
func (e *e2e) apply(name, src string) {
	e.t.Helper()
	dir := e.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
		e.t.Fatal(err)
	}
	files, err := campaigns.LoadAll(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := campaigns.NewStore(e.d, campaigns.WithLinter(channelcheck.Linter())).Apply(e.ctx, files[0]); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) count(q string, args ...any) int {
	e.t.Helper()
	return testenv.Count(e.t, e.ctx, e.d, q, args...)
}

// waitFor gives ok a minute: the deadline bounds a broken test, nothing is timed.
func (e *e2e) waitFor(what string, ok func() bool) {
	e.t.Helper()
	testenv.WaitFor(e.t, what, time.Minute, ok)
}

// TestFallbackLadderThroughFakes: a blocked Telegram chat falls back to SMS at
// once; the SMS is reported undelivered and falls back to email; a Viber
// message never reported delivered falls back to SMS after 15 minutes. One
// message per rung, and the providers received exactly one each.
func TestFallbackLadderThroughFakes(t *testing.T) {
	e := newE2E(t)
	people := []demo.Person{
		{Ext: "ladder-tg", Name: "Анна", Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: 700001, Persona: "silent",
			Phone: "+79990000001", Email: "ladder-tg@example.com", Blocks: true, SMSFails: true},
		{Ext: "ladder-vb", Name: "Олег", Locale: "ru", TZ: "Europe/Moscow", Channel: "viber", ViberID: viberfake.UserID(7), Persona: "silent",
			Phone: "+79990000002", Email: "ladder-vb@example.com"},
	}
	e.f.Viber.SetReceiverPlan(people[1].ViberID, viberfake.Plan{DeliveredAfter: 1000 * time.Hour}) // never delivered
	e.seed(people)
	rung := func(ext string, attempt int, channel string) int {
		return e.count(`SELECT count(*) FROM messages m JOIN subscribers s ON s.id = m.subscriber_id
			WHERE s.external_id = $1 AND m.campaign_id = 'weekly-feedback' AND m.step_id = 'ask' AND m.attempt = $2 AND m.channel = $3`, ext, attempt, channel)
	}
	e.waitFor("the whole ladder", func() bool {
		return rung("ladder-tg", 2, "email") == 1 && rung("ladder-vb", 1, "sms") == 1
	})
	time.Sleep(time.Second) // more flow time: nothing more may happen for these rungs
	for _, c := range []struct {
		ext, channel  string
		attempt, want int
	}{
		{"ladder-tg", "telegram", 0, 1}, {"ladder-tg", "sms", 1, 1}, {"ladder-tg", "email", 2, 1},
		{"ladder-vb", "viber", 0, 1}, {"ladder-vb", "sms", 1, 1},
	} {
		if got := rung(c.ext, c.attempt, c.channel); got != c.want {
			t.Errorf("%s rung %d (%s): %d messages, want %d", c.ext, c.attempt, c.channel, got, c.want)
		}
	}
	var toTG, toVB int
	for _, m := range e.f.Telegram.Sent() {
		if m.ChatID == 700001 {
			toTG++
		}
	}
	for _, m := range e.f.Viber.Sent() {
		if m.Receiver == people[1].ViberID {
			toVB++
		}
	}
	sms := map[string]int{}
	for _, m := range e.f.SMS.Sent() {
		sms[m.To]++
	}
	mails := 0
	for _, m := range e.f.Email.Messages() {
		if strings.Contains(strings.Join(m.To, ","), "ladder-tg@example.com") {
			mails++
		}
	}
	if toTG != 0 || toVB != 1 || sms["+79990000001"] != 1 || sms["+79990000002"] != 1 || mails != 1 {
		t.Fatalf("providers received: telegram %d (blocked), viber %d, sms %v, email %d", toTG, toVB, sms, mails)
	}
	// The block revoked Telegram consent for that customer.
	if n := e.count(`SELECT count(*) FROM consent_state c JOIN subscribers s ON s.id = c.subscriber_id
		WHERE s.external_id = 'ladder-tg' AND c.channel = 'telegram' AND NOT c.granted`); n == 0 {
		t.Error("blocked chat: Telegram consent not revoked")
	}
}

// TestBrowserEngineHandoffToManager: a 👎 pressed in the Telegram fake reaches
// the engine, which hands the customer to the care queue; the manager, signed
// in with the inbox open, sees it appear without a reload, answers (the
// Telegram fake receives it) and resolves, and the paused flow resumes.
func TestBrowserEngineHandoffToManager(t *testing.T) {
	e := newE2E(t)
	if _, err := users.NewStore(e.d, nil).Add(e.ctx, "care@growfood.example", users.Manager, "care-manager-pass", nil); err != nil {
		t.Fatal(err)
	}
	const chat = 710001
	e.seed([]demo.Person{{Ext: "unhappy", Name: "Мария", Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: chat,
		Persona: "silent", Phone: "+79990000003", Email: "unhappy@example.com"}})
	var ask telegramfake.Sent
	e.waitFor("the feedback question in Telegram", func() bool {
		for _, m := range e.f.Telegram.SentTo(chat) {
			if len(m.Keyboard) > 0 {
				ask = m
				return true
			}
		}
		return false
	})
	ctx := browsertest.New(t)
	browsertest.Login(t, ctx, e.base, "care@growfood.example", "care-manager-pass")
	browsertest.Run(t, ctx, 30*time.Second, chromedp.Navigate(e.base+"/inbox"), chromedp.WaitVisible(`#live`, chromedp.ByID))
	time.Sleep(300 * time.Millisecond) // let the page's event stream connect
	// The customer presses 👎.
	if code, err := e.f.Telegram.Post(e.ctx, e.f.Telegram.CallbackUpdate(chat, ask.MessageID, "dislike")); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var live string
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Poll(`document.getElementById('live').textContent.includes('Мария')`, nil),
		chromedp.Text(`#live`, &live, chromedp.ByID))
	if !strings.Contains(live, "care") {
		t.Fatalf("inbox: %q", live)
	}
	before := len(e.f.Telegram.SentTo(chat))
	browsertest.Run(t, ctx, 30*time.Second, browsertest.ReplyInInbox("Мария, простите! Заменим блюдо бесплатно."))
	sent := e.f.Telegram.SentTo(chat)
	if len(sent) != before+1 || !strings.Contains(sent[len(sent)-1].Text, "Заменим блюдо") {
		t.Fatalf("the Telegram fake did not receive the manager's reply: %+v", sent)
	}
	var state string
	if err := e.d.Get(&state, `SELECT r.state FROM flow_runs r JOIN subscribers s ON s.id = r.subscriber_id WHERE s.external_id = 'unhappy'`); err != nil || state != "paused" {
		t.Fatalf("run while handed off: %q %v", state, err)
	}
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Submit(`#resolution`, chromedp.ByID),
		chromedp.WaitVisible(`.badge.positive`, chromedp.ByQuery))
	e.waitFor("the flow to resume after resolve", func() bool {
		return e.count(`SELECT count(*) FROM flow_runs r JOIN subscribers s ON s.id = r.subscriber_id
			WHERE s.external_id = 'unhappy' AND r.state <> 'paused'`) == 1
	})
}

// TestEmailOneClickUnsubscribe: an email carries List-Unsubscribe with a
// signed link; the one-click POST (RFC 8058) revokes email consent through
// the inbound sink, and a GET (a mail scanner) does not.
func TestEmailOneClickUnsubscribe(t *testing.T) {
	e := newE2E(t)
	e.seed([]demo.Person{{Ext: "mail-only", Name: "Ольга", Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: 720001,
		Persona: "silent", Phone: "+79990000004", Email: "olga@example.com", Blocks: true, SMSFails: true}})
	e.waitFor("the email rung", func() bool { return len(e.f.Email.Messages()) > 0 })
	p, err := e.f.Email.Messages()[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	header := p.Header.Get("List-Unsubscribe")
	link := strings.Trim(strings.Split(header, ",")[0], "<> ")
	if !strings.HasPrefix(link, e.base+"/u/") {
		t.Fatalf("List-Unsubscribe: %q", header)
	}
	granted := func() int {
		return e.count(`SELECT count(*) FROM consent_state c JOIN subscribers s ON s.id = c.subscriber_id
			WHERE s.external_id = 'mail-only' AND c.channel IN ('email', '*') AND c.granted`)
	}
	if granted() == 0 {
		t.Fatal("no email consent to begin with")
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || granted() == 0 {
		t.Fatalf("GET must only ask: %d, consent rows %d", resp.StatusCode, granted())
	}
	resp, err = http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click POST: %d", resp.StatusCode)
	}
	e.waitFor("email consent revoked", func() bool {
		return e.count(`SELECT count(*) FROM consent_state c JOIN subscribers s ON s.id = c.subscriber_id
			WHERE s.external_id = 'mail-only' AND c.channel = 'email' AND NOT c.granted`) > 0
	})
	// A forged token is refused.
	resp, err = http.Post(e.base+"/u/Zm9yZ2Vk.AAAA", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged token: %d", resp.StatusCode)
	}
}
