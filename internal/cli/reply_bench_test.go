package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

const replyBenchCampaign = `id: reply-bench
name: Reply path benchmark
topic: service
audience:
  consent: service
trigger:
  api: {}
settings:
  channels: [sandbox]
steps:
  - id: ask
    send: {template: ask}
  - id: answer
    wait_reply:
      timeout: 48h
      branches:
        - {button: like, goto: menu}
        - {button: dislike, goto: sorry}
  - id: menu
    send: {template: menu}
    next: done
  - id: sorry
    send: {template: menu}
  - id: done
    end: {}
templates:
  ask:
    default:
      ru:
        text: "Как вам еда?"
        buttons: [{id: like, text: "👍"}, {id: dislike, text: "👎"}]
  menu:
    default:
      ru: {text: "Меню на следующую неделю"}
`

// BenchmarkReplyPath measures a reply's way through the engine: from the
// inbound sink accepting a button press (what a webhook does after checking
// the signature) to the next step's message sent on the sandbox channel, at
// a sustained rate (NUDGE_BENCH_REPLY_RATE per second, default 1,000, for
// NUDGE_BENCH_REPLY_SECONDS, default 60) from NUDGE_BENCH_REPLY_SENDERS
// concurrent senders (default 32), each waiting for its event to be stored
// and routed, as a provider's webhook connections do. It reports p50/p99 and writes
// bench/results/reply_path.json. Target (issue 19 item 4): p99 ≤ 2× the p99
// of a bare Asynq enqueue → handler round trip at the same rate, measured
// first in the same run (asynqRoundTrip).
func BenchmarkReplyPath(b *testing.B) {
	rate, secs := testenv.EnvInt("NUDGE_BENCH_REPLY_RATE", 1000), testenv.EnvInt("NUDGE_BENCH_REPLY_SECONDS", 60)
	n := rate * secs
	e := newE2EAt(b, 1)
	ctx := e.ctx
	f, err := campaigns.Parse("reply-bench.yaml", []byte(replyBenchCampaign))
	if err != nil {
		b.Fatal(err)
	}
	v, _, err := campaigns.NewStore(e.d, campaigns.WithLinter(channelcheck.Linter())).Apply(ctx, f)
	if err != nil {
		b.Fatal(err)
	}
	// n subscribers with a sandbox identity and service consent, each asked
	// the question (set-based: this is set-up, not the measured path).
	for _, q := range []string{
		`INSERT INTO subscribers (external_id, locale) SELECT 'b' || i, 'ru' FROM generate_series(1, ` + strconv.Itoa(n) + `) i`,
		`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'sandbox', external_id FROM subscribers`,
		`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) SELECT id, '*', 'service', true, 'api' FROM subscribers`,
	} {
		if _, err := e.d.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.d.ExecContext(ctx, `INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, next_at)
		SELECT $1, $2, id, 'bench', 'active', 'ask', now() FROM subscribers`, v.CampaignID, v.Version); err != nil {
		b.Fatal(err)
	}
	e.d.ExecContext(ctx, `SELECT pg_notify('nudge_runs', 'bench')`)
	testenv.WaitFor(e.t, "every subscriber to wait for a reply", 10*time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM flow_runs WHERE state = 'waiting' AND step_id = 'answer'`) == n
	})
	// The figures mean little on a busy box: say how busy it was.
	load := testenv.LoadAverage()
	baseP50, baseP99 := asynqRoundTrip(b, rate, n)
	b.ResetTimer()
	stmtsBefore := db.Statements() // the engine runs in this process
	// Replies at the target rate, from a pool of senders.
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acceptMax time.Duration
	accepts := make([]time.Duration, 0, n)
	for w := 0; w < testenv.EnvInt("NUDGE_BENCH_REPLY_SENDERS", 32); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				start := time.Now()
				ev := channels.Event{Type: channels.EventButton, Channel: channels.Sandbox, From: fmt.Sprintf("b%d", i+1),
					ProviderEventID: fmt.Sprintf("bench-%d", i), Payload: "like", At: start}
				if _, err := e.s.sink.Accept(context.Background(), []channels.Event{ev}); err != nil {
					b.Error(err)
				}
				d := time.Since(start)
				mu.Lock()
				accepts = append(accepts, d)
				if d > acceptMax {
					acceptMax = d
				}
				mu.Unlock()
			}
		}()
	}
	began := time.Now()
	offer(rate, n, jobs)
	close(jobs)
	wg.Wait()
	offered := time.Since(began)
	testenv.WaitFor(e.t, "every next message", 10*time.Minute, func() bool {
		return e.count(`SELECT count(*) FROM messages WHERE step_id = 'menu' AND sent_at IS NOT NULL`) == n
	})
	b.StopTimer()
	perReply := float64(db.Statements()-stmtsBefore) / float64(n)
	var res struct {
		P50 float64 `db:"p50"`
		P90 float64 `db:"p90"`
		P99 float64 `db:"p99"`
		Max float64 `db:"max"`
	}
	if err := e.d.GetContext(ctx, &res, `SELECT
		percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
		percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max
		FROM (SELECT extract(epoch FROM m.sent_at - r.created_at) * 1000 AS ms
		        FROM replies r JOIN messages m ON m.run_id = r.run_id AND m.step_id = 'menu') x`); err != nil {
		b.Fatal(err)
	}
	achieved := float64(n) / offered.Seconds()
	ratio := res.P99 / baseP99
	b.ReportMetric(res.P50, "p50_ms")
	b.ReportMetric(res.P99, "p99_ms")
	b.ReportMetric(achieved, "replies/s")
	b.ReportMetric(ratio, "p99_vs_asynq")
	b.ReportMetric(perReply, "stmts/reply")
	out := map[string]any{"benchmark": "reply_path", "replies": n, "target_rate_per_s": rate, "achieved_rate_per_s": achieved,
		"seconds": offered.Seconds(), "p50_ms": res.P50, "p90_ms": res.P90, "p99_ms": res.P99, "max_ms": res.Max,
		"accept_max_ms": float64(acceptMax.Microseconds()) / 1000, "asynq_p50_ms": baseP50, "asynq_p99_ms": baseP99,
		"p99_ratio_to_asynq": ratio, "target_p99_ratio": 2, "measured_at": time.Now().UTC().Format(time.RFC3339),
		"load_average_at_start": load, "statements_per_reply": perReply}
	fmt.Printf("reply path: %d replies at %.0f/s (target %d/s): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; "+
		"bare asynq round trip p50 %.1f ms, p99 %.1f ms; p99 ratio %.2f (target ≤ 2); %.1f statements per reply\n",
		n, achieved, rate, res.P50, res.P90, res.P99, res.Max, baseP50, baseP99, ratio, perReply)
	if dir, err := filepath.Abs("../../bench/results"); err == nil {
		if os.MkdirAll(dir, 0o755) == nil {
			body, _ := json.MarshalIndent(out, "", "  ")
			_ = os.WriteFile(filepath.Join(dir, "reply_path.json"), body, 0o644)
		}
	}
}
