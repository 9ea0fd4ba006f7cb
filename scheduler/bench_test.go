package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// benchSubscribers is the audience size; NUDGE_BENCH_SUBSCRIBERS overrides
// it (e.g. 1000000 for the million-subscriber check).
var benchSubscribers = testenv.EnvInt("NUDGE_BENCH_SUBSCRIBERS", 100_000)

// benchAudience fills the database with n subscribers over five zones, each
// with marketing consent on telegram and a few attributes.
func benchAudience(b *testing.B, f fixture, n int) {
	b.Helper()
	if _, err := f.db.Exec(`INSERT INTO subscribers (external_id, time_zone, attributes)
		SELECT 'b' || g, (ARRAY['Europe/Moscow','Europe/Berlin','America/New_York','Asia/Kolkata','Asia/Yekaterinburg'])[1 + g % 5],
		       jsonb_build_object('plan', CASE WHEN g % 2 = 0 THEN 'family' ELSE 'solo' END, 'orders', g % 10)
		  FROM generate_series(1, $1) g`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := f.db.Exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source)
		SELECT id, 'telegram', 'marketing', true, 'import' FROM subscribers`); err != nil {
		b.Fatal(err)
	}
	if _, err := f.db.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

type benchResult struct {
	Name        string  `json:"name"`
	Subscribers int     `json:"subscribers"`
	Runs        int     `json:"runs"`
	Seconds     float64 `json:"seconds"`
	RunsPerSec  float64 `json:"runs_per_second"`
}

func writeBench(b *testing.B, r benchResult) {
	fmt.Printf("| %-32s | %9d subscribers | %9d runs | %7.2fs | %9.0f runs/s |\n", r.Name, r.Subscribers, r.Runs, r.Seconds, r.RunsPerSec)
	saveBench(b, "scheduler_"+r.Name, r.Subscribers, 100_000, r)
}

// saveBench writes v to bench/results as name.json, or as name_N.json when
// the run's audience n is not the size the committed figures are for, so a
// smaller or larger run never overwrites them. A failure is only logged.
func saveBench(b *testing.B, name string, n, committedN int, v any) {
	dir := filepath.Join("..", "bench", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Logf("bench results: %v", err)
		return
	}
	if n != committedN {
		name += "_" + strconv.Itoa(n)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(out, '\n'), 0o644); err != nil {
		b.Logf("bench results: %v", err)
	}
}

// BenchmarkScheduleRuns creates the runs of one schedule occurrence for a
// 100k-subscriber audience (consent + a where condition), set-based.
func BenchmarkScheduleRuns(b *testing.B) {
	for _, zone := range []string{"Europe/Berlin", ZoneSubscriber} {
		b.Run(map[string]string{"Europe/Berlin": "fixed_zone", ZoneSubscriber: "subscriber_zones"}[zone], func(b *testing.B) {
			f := setup(b)
			benchAudience(b, f, benchSubscribers)
			applied := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // after Friday 18:00 everywhere
			s := New(f.db, func() time.Time { return now }, nil, Config{MaxLateness: 48 * time.Hour})
			total, elapsed := timeRunOnce(b, func(i int) *Scheduler {
				def := weekly(fmt.Sprintf("bench%d", i), zone)
				def.Audience.Where = []campaigns.Condition{{Attr: "orders", Op: "gte", Value: 0}}
				f.campaign(def, applied)
				return s
			}, func(st Stats) int { return st.ScheduleRuns })
			reportRuns(b, "schedule_"+b.Name()[len("BenchmarkScheduleRuns/"):], benchSubscribers, total, elapsed)
		})
	}
}

// BenchmarkEventRuns turns 100k posted events into delayed runs.
func BenchmarkEventRuns(b *testing.B) {
	f := setup(b)
	benchAudience(b, f, benchSubscribers)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	total, elapsed := timeRunOnce(b, func(i int) *Scheduler {
		name := fmt.Sprintf("order.delivered.%d", i)
		f.campaign(campaigns.Definition{ID: fmt.Sprintf("ev%d", i),
			Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: name, Delay: campaigns.Duration(7 * 24 * time.Hour)}}}, now)
		if _, err := f.db.Exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) SELECT id, $1, $2 FROM subscribers`, name, now); err != nil {
			b.Fatal(err)
		}
		return New(f.db, func() time.Time { return now }, nil, Config{EventBatch: 10000})
	}, func(st Stats) int { return st.EventRuns })
	reportRuns(b, "events", benchSubscribers, total, elapsed)
}

// timeRunOnce runs b.N rounds: prepare(i) (untimed) gives the scheduler,
// whose RunOnce is timed and must create benchSubscribers runs as counted
// by created. It returns the runs created and RunOnce's time.
func timeRunOnce(b *testing.B, prepare func(i int) *Scheduler, created func(Stats) int) (int, time.Duration) {
	ctx := context.Background()
	total, elapsed := 0, time.Duration(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := prepare(i)
		b.StartTimer()
		start := time.Now()
		st, err := s.RunOnce(ctx)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if n := created(st); n != benchSubscribers {
			b.Fatalf("created %d runs", n)
		}
		total += created(st)
	}
	return total, elapsed
}

// reportRuns reports the rate of runs created and records it as name.
func reportRuns(b *testing.B, name string, subscribers, total int, elapsed time.Duration) {
	rate := float64(total) / elapsed.Seconds()
	b.ReportMetric(rate, "runs/s")
	writeBench(b, benchResult{Name: name, Subscribers: subscribers, Runs: total, Seconds: elapsed.Seconds(), RunsPerSec: rate})
}

// BenchmarkBroadcast measures a broadcast to NUDGE_BENCH_BROADCAST_SUBSCRIBERS
// (default 10,000) subscribers with a telegram identity: the dry run (the
// audience streamed through policy.DecideMany), then the creation of every
// run by the scheduler in batches of the default size, with a window that
// does not hold it back (no worker runs here).
func BenchmarkBroadcast(b *testing.B) {
	n := testenv.EnvInt("NUDGE_BENCH_BROADCAST_SUBSCRIBERS", 10_000)
	f := setup(b)
	benchAudience(b, f, n)
	if _, err := f.db.Exec(`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'telegram', external_id FROM subscribers`); err != nil {
		b.Fatal(err)
	}
	if _, err := f.db.Exec(`ANALYZE channel_identities`); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var dry, create time.Duration
	total := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id := fmt.Sprintf("bc%d", i)
		f.campaign(campaigns.Definition{ID: id, Trigger: campaigns.Trigger{API: &campaigns.APITrigger{}}}, now.Add(-time.Hour))
		bs := NewBroadcasts(f.db, func() time.Time { return now }, nil, "")
		b.StartTimer()
		start := time.Now()
		d, err := bs.DryRun(ctx, BroadcastRequest{Campaign: id})
		dry += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if d.Audience != n || d.Send != n {
			b.Fatalf("dry run %+v", d)
		}
		b.StopTimer()
		if _, _, err := bs.Create(ctx, BroadcastRequest{Campaign: id}, ""); err != nil {
			b.Fatal(err)
		}
		s := New(f.db, func() time.Time { return now }, nil, Config{BroadcastWindow: n + 1})
		b.StartTimer()
		start = time.Now()
		st, err := s.RunOnce(ctx)
		create += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if st.BroadcastRuns != n {
			b.Fatalf("created %d runs", st.BroadcastRuns)
		}
		total += st.BroadcastRuns
	}
	b.ReportMetric(dry.Seconds()*1000/float64(b.N), "dry-run-ms")
	writeBench(b, benchResult{Name: "broadcast_dry_run", Subscribers: n, Runs: n * b.N, Seconds: dry.Seconds(), RunsPerSec: float64(n*b.N) / dry.Seconds()})
	reportRuns(b, "broadcast_create", n, total, create)
}
