package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/policy"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

// promoCampaign is a marketing campaign an event starts: while the customer
// talks to a manager the policy gate skips it (handoff_open).
const promoCampaign = `id: weekend-promo
name: Weekend promo
topic: marketing
audience:
  consent: marketing
trigger:
  event:
    name: promo.weekend
settings:
  channels: [telegram]
steps:
  - id: offer
    send: {template: offer}
  - id: done
    end:
templates:
  offer:
    default:
      ru:
        text: "Скидка 20% на выходные"
`

// TestBrowserInboxSkipRowOnEngineClock: on an engine clock years from
// today, a customer presses 👎 (a hand-off opens), then a marketing send to
// them is skipped by the policy gate. The manager's conversation shows the
// skip row stamped with the engine's time of the skip (not the wall clock),
// with its reason, after the question and the press it followed.
func TestBrowserInboxSkipRowOnEngineClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	start := time.Date(2031, 6, 2, 8, 0, 0, 0, time.UTC) // a Monday, 11:00 in Moscow
	clk := clock.NewManual(start)
	e := newE2EClock(t, ctx, clk, nil)
	if _, err := users.NewStore(e.d, nil).Add(e.ctx, "care@growfood.example", users.Manager, "care-manager-pass", nil); err != nil {
		t.Fatal(err)
	}
	const chat = 720001
	e.seed([]demo.Person{{Ext: "skipped", Name: "Вера", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.Telegram, Chat: chat,
		Persona: "silent", Phone: "+79990000721", Email: "skipped@example.com"}})
	// The engine's loops tick on its clock: move it a second at a time.
	waitTicking := func(what string, ok func() bool) {
		t.Helper()
		e.waitFor(what, func() bool { clk.Advance(time.Second); return ok() })
	}
	var ask string
	waitTicking("the feedback question", func() bool {
		for _, m := range e.f.Telegram.SentTo(chat) {
			if len(m.Keyboard) > 0 {
				ask = strconv.FormatInt(m.MessageID, 10)
				return true
			}
		}
		return false
	})
	if st, err := e.f.Do(e.ctx, channels.Telegram, "press", fakes.Action{User: strconv.Itoa(chat), Data: "dislike", MessageID: ask}); err != nil || st != 200 {
		t.Fatalf("press: %d %v", st, err)
	}
	e.waitFor("the hand-off", func() bool {
		return e.count(`SELECT count(*) FROM conversations WHERE state = 'open'`) == 1
	})

	clk.Advance(2 * time.Hour)
	e.apply("weekend-promo", promoCampaign)
	at := clk.Now()
	if _, err := subscribers.NewStore(e.d, clk.Now).AddEvents(e.ctx, []subscribers.Event{{ExternalID: "skipped", Name: "promo.weekend",
		OccurredAt: &at, IdempotencyKey: "promo-1"}}); err != nil {
		t.Fatal(err)
	}
	waitTicking("the promo skipped by the open hand-off", func() bool {
		if _, err := e.sched.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		return e.count(`SELECT count(*) FROM messages WHERE campaign_id = 'weekend-promo' AND status = 'skipped' AND reason = 'handoff_open'`) == 1
	})
	var skippedAt time.Time
	var conv int64
	if err := e.d.Get(&skippedAt, `SELECT created_at FROM messages WHERE campaign_id = 'weekend-promo'`); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Get(&conv, `SELECT id FROM conversations`); err != nil {
		t.Fatal(err)
	}
	if skippedAt.Before(at) || skippedAt.After(clk.Now()) {
		t.Fatalf("the skip is stamped %s, not on the engine clock (%s to %s)", skippedAt, at, clk.Now())
	}

	b := browsertest.New(t)
	browsertest.Login(t, b, e.base, "care@growfood.example", "care-manager-pass")
	var rows []string
	browsertest.Run(t, b, 30*time.Second,
		chromedp.Navigate(e.base+"/inbox/"+strconv.FormatInt(conv, 10)),
		chromedp.WaitVisible(`#live table`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#live tbody tr')].map(r => r.className + ' | ' + r.innerText.replace(/\s+/g, ' '))`, &rows),
	)
	browsertest.Screenshot(t, b, "conversation-skip.png")
	skip, press, question := -1, -1, -1
	for i, r := range rows {
		switch {
		case strings.Contains(r, "weekend-promo"):
			skip = i
		case strings.HasPrefix(r, "h-customer") && strings.Contains(r, "Не очень"):
			press = i
		case strings.HasPrefix(r, "h-bot") && strings.Contains(r, "weekly-feedback/ask"):
			question = i
		}
	}
	if skip < 0 || press < 0 || question < 0 {
		t.Fatalf("history rows (skip %d, press %d, question %d):\n%s", skip, press, question, strings.Join(rows, "\n"))
	}
	want := skippedAt.UTC().Format("2006-01-02 15:04")
	if r := rows[skip]; !strings.Contains(r, want) || !strings.Contains(r, "skipped") || !strings.Contains(r, "handoff_open") ||
		!strings.Contains(r, "Not sent: "+policy.Explain(policy.ReasonHandoffOpen)) {
		t.Errorf("the skip row does not show the engine's time %s, the status and the reason (code and words): %q", want, r)
	}
	if today := time.Now().UTC().Format("2006-01-02"); strings.Contains(strings.Join(rows, "\n"), today) {
		t.Errorf("a history row carries today's wall-clock date %s:\n%s", today, strings.Join(rows, "\n"))
	}
	if !(question < press && press < skip) {
		t.Errorf("the skip row is not after the question and the press it followed:\n%s", strings.Join(rows, "\n"))
	}
}
