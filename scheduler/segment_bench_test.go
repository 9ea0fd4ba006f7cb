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
)

// segmentBenchSubscribers is the audience of BenchmarkSegmentCount;
// NUDGE_BENCH_SEGMENT_SUBSCRIBERS overrides the million.
var segmentBenchSubscribers = func() int {
	if n, err := strconv.Atoi(os.Getenv("NUDGE_BENCH_SEGMENT_SUBSCRIBERS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}()

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
	var count, bare, whole time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := CountNamed(ctx, f.db, "weekly-eaters", now, SampleSize)
		whole += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if c.Total != members || len(c.ByChannel) != len(by) {
			b.Fatalf("counted %d %v, want %d %v", c.Total, c.ByChannel, members, by)
		}
		count += c.Took
		start = time.Now()
		f.count(`SELECT count(*) FROM subscribers`)
		bare += time.Since(start)
	}
	b.StopTimer()
	if os.Getenv("NUDGE_EXPLAIN") != "" {
		fmt.Println(explainCount(b, f, now))
	}
	per := count / time.Duration(b.N)
	perBare := bare / time.Duration(b.N)
	ratio := float64(count) / float64(bare)
	b.ReportMetric(float64(per.Microseconds())/1000, "count_ms")
	b.ReportMetric(float64(perBare.Microseconds())/1000, "bare_ms")
	b.ReportMetric(ratio, "ratio")
	perWhole := whole / time.Duration(b.N)
	var load string
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil && len(raw) > 14 {
		load = string(raw[:14])
	}
	fmt.Printf("| segment count %9d subscribers | %7d members | %8.1f ms (with sample %8.1f ms) | count(*) %7.1f ms | ratio %5.1f | load %s |\n",
		n, members, float64(per.Microseconds())/1000, float64(perWhole.Microseconds())/1000, float64(perBare.Microseconds())/1000, ratio, load)
	writes := rollupWriteCost(b, f, now)
	fmt.Printf("| rollup write cost (best of 2, without → with the rollup triggers) | %v |\n", writes)
	res := map[string]any{
		"name": "segment_count", "subscribers": n, "members": members, "iterations": b.N,
		"count_ms": float64(per.Microseconds()) / 1000, "bare_count_ms": float64(perBare.Microseconds()) / 1000,
		"count_with_sample_ms": float64(perWhole.Microseconds()) / 1000,
		"ratio": ratio, "load_average": load, "at": time.Now().UTC().Format(time.RFC3339),
	}
	for k, v := range writes {
		res[k] = v
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	dir := filepath.Join("..", "bench", "results")
	suffix := ""
	if n != 1_000_000 {
		suffix = "_" + strconv.Itoa(n)
	}
	if err := os.WriteFile(filepath.Join(dir, "segment_count"+suffix+".json"), append(out, '\n'), 0o644); err != nil {
		b.Logf("bench results: %v", err)
	}
}
