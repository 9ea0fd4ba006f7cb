package scheduler

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// segmentBenchSubscribers is the audience of BenchmarkSegmentCount;
// NUDGE_BENCH_SEGMENT_SUBSCRIBERS overrides the million.
var segmentBenchSubscribers = testenv.EnvInt("NUDGE_BENCH_SEGMENT_SUBSCRIBERS", 1_000_000)

// BenchmarkSegmentCount counts weekly-eaters (attributes, consent per
// channel, an event count with the last payload, no event, reachability,
// opt-in source) over a million subscribers, as nudge segment count does,
// and a bare count(*) of the subscribers in the same run: the ratio says
// what the segment's conditions cost over reading the table at all.
func BenchmarkSegmentCount(b *testing.B) {
	f := setup(b)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	n := segmentBenchSubscribers
	members, by := seedSegmentAudience(b, f, n, now)
	f.applySegment(weeklyEaters)
	ctx := context.Background()
	// measure counts as nudge segment count does (with the sample) and
	// times a bare count(*) after each: the best of three of each, per
	// b.N, the first of them warming the cache.
	measure := func() (count, whole, bare time.Duration) {
		for i := 0; i < 3*b.N; i++ {
			start := time.Now()
			c, err := CountNamed(ctx, f.db, "weekly-eaters", now, SampleSize)
			w := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if c.Total != members || len(c.ByChannel) != len(by) {
				b.Fatalf("counted %d %v, want %d %v", c.Total, c.ByChannel, members, by)
			}
			start = time.Now()
			f.count(`SELECT count(*) FROM subscribers`)
			bt := time.Since(start)
			if i == 0 || c.Took < count {
				count, whole = c.Took, w
			}
			if i == 0 || bt < bare {
				bare = bt
			}
		}
		return count, whole, bare
	}
	rollupMB := func() float64 {
		return float64(f.count(`SELECT pg_total_relation_size('subscriber_rollup')`)) / (1 << 20)
	}
	b.ResetTimer()
	// As seeded: each rollup row was rewritten by up to five bulk
	// statements (consent twice, identities twice, events), so the table
	// holds several dead versions per row that no vacuum has reclaimed.
	seededCount, _, seededBare := measure()
	seededMB := rollupMB()
	// Compacted, as a rollup written a little at a time stays (autovacuum
	// frees the old versions and new ones reuse the space).
	f.db.MustExec(`VACUUM FULL ANALYZE subscriber_rollup`)
	per, perWhole, perBare := measure()
	b.StopTimer()
	if os.Getenv("NUDGE_EXPLAIN") != "" {
		fmt.Println(explainCount(b, f, now))
	}
	ratio := float64(per) / float64(perBare)
	seededRatio := float64(seededCount) / float64(seededBare)
	b.ReportMetric(float64(per.Microseconds())/1000, "count_ms")
	b.ReportMetric(float64(perBare.Microseconds())/1000, "bare_ms")
	b.ReportMetric(ratio, "ratio")
	load := testenv.LoadAverage()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("| segment count %9d subscribers | %7d members | as seeded %8.1f ms, count(*) %7.1f ms, ratio %5.1f, rollup %4.0f MB | compacted %8.1f ms (with sample %8.1f ms), count(*) %7.1f ms, ratio %5.1f, rollup %4.0f MB | load %s |\n",
		n, members, ms(seededCount), ms(seededBare), seededRatio, seededMB, ms(per), ms(perWhole), ms(perBare), ratio, rollupMB(), load)
	writes := rollupWriteCost(b, f, now)
	fmt.Printf("| rollup write cost (best of 2, without → with the rollup triggers) | %v |\n", writes)
	res := map[string]any{
		"name": "segment_count", "subscribers": n, "members": members, "iterations": b.N,
		"count_ms": ms(per), "bare_count_ms": ms(perBare), "count_with_sample_ms": ms(perWhole), "ratio": ratio,
		"rollup_mb": rollupMB(), "as_seeded_count_ms": ms(seededCount), "as_seeded_bare_count_ms": ms(seededBare),
		"as_seeded_ratio": seededRatio, "as_seeded_rollup_mb": seededMB, "load_average": load, "at": time.Now().UTC().Format(time.RFC3339),
	}
	for k, v := range writes {
		res[k] = v
	}
	saveBench(b, "segment_count", n, 1_000_000, res)
}
