package cli

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/scheduler"
)

const broadcastCampaign = `id: winter-menu
name: Winter menu announcement
topic: marketing
trigger:
  api: {}
settings:
  channels: [sandbox]
steps:
  - id: announce
    send: {template: menu}
templates:
  menu:
    default:
      ru: {text: "Зимнее меню уже на сайте"}
`

// TestBroadcastThroughSchedulerAndWorker: `nudge broadcast dry-run` and
// `create` against the engine's database, then the real scheduler creates
// the runs in batches and the real worker sends them on the sandbox. The
// leading scheduler is stopped mid-broadcast and another takes over: every
// subscriber gets the message exactly once, and the dry run's count is
// what was sent.
func TestBroadcastThroughSchedulerAndWorker(t *testing.T) {
	const n = 600
	e := newE2EAt(t, 1)
	ctx := e.ctx
	f, err := campaigns.Parse("winter-menu.yaml", []byte(broadcastCampaign))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := campaigns.NewStore(e.d, campaigns.WithLinter(channelcheck.Linter())).Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO subscribers (external_id, locale) SELECT 'w' || i, 'ru' FROM generate_series(1, ` + strconv.Itoa(n) + `) i`,
		`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'sandbox', external_id FROM subscribers WHERE external_id LIKE 'w%'`,
		`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) SELECT id, '*', 'marketing', true, 'api' FROM subscribers WHERE external_id LIKE 'w%'`,
		// Two who would be skipped: one without marketing consent, one talking to a manager.
		`INSERT INTO subscribers (external_id, locale) VALUES ('no-consent', 'ru'), ('talking', 'ru')`,
		`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'sandbox', external_id FROM subscribers WHERE external_id IN ('no-consent', 'talking')`,
		`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) SELECT id, '*', 'service', true, 'api' FROM subscribers WHERE external_id = 'no-consent'`,
		`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) SELECT id, '*', 'marketing', true, 'api' FROM subscribers WHERE external_id = 'talking'`,
		`INSERT INTO conversations (subscriber_id, channel, reason, opened_at) SELECT id, 'sandbox', 'handoff', now() FROM subscribers WHERE external_id = 'talking'`,
	} {
		if _, err := e.d.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := MainEnv(ctx, args, e.a.Env.Lookup, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("nudge %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}
	var dry scheduler.DryRun
	if err := json.Unmarshal([]byte(cli("broadcast", "dry-run", "winter-menu", "--json")), &dry); err != nil {
		t.Fatal(err)
	}
	if dry.Audience != n+2 || dry.Send != n || dry.Channels["sandbox"] != n || dry.Skipped["no_consent"] != 1 || dry.Skipped["handoff_open"] != 1 {
		t.Fatalf("dry run %+v", dry)
	}
	t.Logf("dry run of %d subscribers: %d ms", n+2, dry.ElapsedMS)
	out := cli("broadcast", "create", "winter-menu", "--idempotency-key", "winter-1")
	if !strings.Contains(out, "broadcast 1 of winter-menu") || !strings.Contains(out, "created") {
		t.Fatalf("create: %q", out)
	}
	if out := cli("broadcast", "create", "winter-menu", "--idempotency-key", "winter-1"); !strings.Contains(out, "exists already") {
		t.Fatalf("repeat: %q", out)
	}

	// Small batches and window, so the broadcast takes several passes.
	cfg := scheduler.Config{Interval: 20 * time.Millisecond, LeaderRetry: 20 * time.Millisecond, BroadcastBatch: 50, BroadcastWindow: 50}
	first := scheduler.New(e.d, e.now, e.a.Log, cfg)
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitFor("a third of the runs", func() bool {
		return e.count(`SELECT runs FROM broadcasts WHERE id = 1`) >= n/3
	})
	first.Stop()
	mid := e.count(`SELECT runs FROM broadcasts WHERE id = 1`)
	if mid >= n {
		t.Fatalf("the first scheduler created all %d runs before it stopped", mid)
	}
	second := scheduler.New(e.d, e.now, e.a.Log, cfg)
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	testenv.WaitFor(e.t, "the broadcast to finish and every message to be sent", 2*time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM broadcasts WHERE id = 1 AND state = 'done'`) == 1 &&
			e.count(`SELECT count(*) FROM messages WHERE campaign_id = 'winter-menu' AND status IN ('sent', 'delivered')`) == n
	})
	if got := e.count(`SELECT count(*) FROM (SELECT address FROM sandbox_sends GROUP BY address HAVING count(*) <> 1) x`); got != 0 {
		t.Fatalf("%d addresses got the message more or less than once", got)
	}
	if got := e.count(`SELECT count(DISTINCT address) FROM sandbox_sends WHERE address LIKE 'w%'`); got != n {
		t.Fatalf("%d subscribers reached, want %d", got, n)
	}
	if got := e.count(`SELECT count(*) FROM sandbox_sends WHERE address IN ('no-consent', 'talking')`); got != 0 {
		t.Fatalf("%d messages to people policy skips", got)
	}
	// The audience is everyone with marketing consent; the one talking to a
	// manager has a run that policy holds.
	if got := e.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'winter-menu'`); got != n+1 {
		t.Fatalf("%d runs, want %d (one per subscriber in the audience)", got, n+1)
	}
	t.Logf("restart after %d of %d runs", mid, n)
	if out := cli("broadcast", "list"); !strings.Contains(out, "done") {
		t.Fatalf("list: %q", out)
	}
	if out := cli("broadcast", "show", "1"); !strings.Contains(out, "broadcast 1: winter-menu") || !strings.Contains(out, "601 runs") {
		t.Fatalf("show: %q", out)
	}
	var errOut bytes.Buffer
	if code := MainEnv(ctx, []string{"broadcast", "cancel", "1"}, e.a.Env.Lookup, strings.NewReader(""), &bytes.Buffer{}, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "only a scheduled broadcast can be cancelled") {
		t.Fatalf("cancel of a done broadcast: %d %q", code, errOut.String())
	}
}
