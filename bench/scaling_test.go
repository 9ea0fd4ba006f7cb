package bench

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// BenchmarkWorkers4 is the scaling check of docs/scaling.md: the same blast
// (BENCH_SCALE_N subscribers, default 30,000) at the same total rate
// (BENCH_SCALE_RATE msg/s, default 2,000, one VK account shared through the
// Redis limiter) worked by one `nudge worker` process and then by four. The
// claim of due runs is the one statement every worker contends on; its mean
// time inside Postgres (pg_stat_user_functions) must not grow with the
// workers, and neither may the achieved rate fall. A third run has the four
// workers claim with one goroutine each: as many claimers as the one
// worker's four, so it tells the claim's own scaling (a hot spot in the
// work index) from the 16 claimers' share of this box's two cores.
func BenchmarkWorkers4(b *testing.B) {
	if b.N > 1 {
		b.Skip("measured once")
	}
	n, rate := testenv.EnvInt("BENCH_SCALE_N", 30_000), testenv.EnvInt("BENCH_SCALE_RATE", 2_000)
	redisURL := testenv.Redis(b)
	type side struct {
		Workers                     int
		Concurrency                 int // each worker's (0: the default, 4)
		Seconds, Rate, ClaimMeanMS  float64
		Claims                      int64
		RunsPerClaim, ClaimMSPerRun float64
		// EntriesPerRun is work-index entries read per run (1: a claim
		// walked past nothing); FetchedPerRun the live rows fetched.
		EntriesPerRun, FetchedPerRun float64
	}
	measure := func(workers, concurrency int) side {
		r := blastWith(b, n, redisURL, blastOpts{Workers: workers, Rate: rate, Concurrency: concurrency})
		s := side{Workers: workers, Concurrency: concurrency, Seconds: r.Elapsed.Seconds(), Rate: float64(n) / r.Elapsed.Seconds(),
			ClaimMeanMS: r.Claims.MeanMS(), Claims: r.Claims.Calls}
		if r.Claims.Calls > 0 {
			s.RunsPerClaim = float64(n) / float64(r.Claims.Calls)
			s.ClaimMSPerRun = r.Claims.TotalMS / float64(n)
		}
		s.EntriesPerRun, s.FetchedPerRun = float64(r.Claims.Read)/float64(n), float64(r.Claims.Fetched)/float64(n)
		fmt.Printf("%d worker(s) (concurrency %d): %.0f msg/s in %.2fs; %d claims, %.2f ms mean, %.1f runs per claim, %.1f index entries read and %.1f rows fetched per run\n",
			workers, concurrency, s.Rate, s.Seconds, s.Claims, s.ClaimMeanMS, s.RunsPerClaim, s.EntriesPerRun, s.FetchedPerRun)
		return s
	}
	one, four, fourByOne := measure(1, 0), measure(4, 0), measure(4, 1)
	ratio, sameClaimers := 0.0, 0.0
	if one.ClaimMeanMS > 0 {
		ratio, sameClaimers = four.ClaimMeanMS/one.ClaimMeanMS, fourByOne.ClaimMeanMS/one.ClaimMeanMS
	}
	b.ReportMetric(ratio, "claim-ms-4/1")
	b.ReportMetric(four.Rate/one.Rate, "rate-4/1")
	table([2]string{"scale subscribers", strconv.Itoa(n)},
		[2]string{"account rate", fmt.Sprintf("%d msg/s", rate)},
		[2]string{"1 worker: msg/s", fmt.Sprintf("%.0f", one.Rate)},
		[2]string{"4 workers: msg/s", fmt.Sprintf("%.0f", four.Rate)},
		[2]string{"1 worker: claim mean", fmt.Sprintf("%.2f ms", one.ClaimMeanMS)},
		[2]string{"4 workers: claim mean", fmt.Sprintf("%.2f ms", four.ClaimMeanMS)},
		[2]string{"claim time 4/1 (target <= 1.1)", fmt.Sprintf("%.2f", ratio)},
		[2]string{"claim ms per run, 1 / 4", fmt.Sprintf("%.3f / %.3f", one.ClaimMSPerRun, four.ClaimMSPerRun)},
		[2]string{"runs per claim, 1 / 4", fmt.Sprintf("%.1f / %.1f", one.RunsPerClaim, four.RunsPerClaim)},
		[2]string{"work-index entries read per run, 1 / 4", fmt.Sprintf("%.1f / %.1f", one.EntriesPerRun, four.EntriesPerRun)},
		[2]string{"rate 4/1 (target >= 0.97)", fmt.Sprintf("%.2f", four.Rate/one.Rate)},
		[2]string{"4 workers x 1 claimer: claim mean", fmt.Sprintf("%.2f ms", fourByOne.ClaimMeanMS)},
		[2]string{"claim time, 4 claimers in 4 workers / in 1", fmt.Sprintf("%.2f", sameClaimers)},
		[2]string{"rate, 4 claimers in 4 workers / in 1", fmt.Sprintf("%.2f", fourByOne.Rate/one.Rate)})
	b.ReportMetric(sameClaimers, "claim-ms-4x1/1x4")
	writeResult(b, "workers4", map[string]any{"subscribers": n, "rate_per_second": rate, "one": one, "four": four,
		"four_by_one_claimer": fourByOne, "claim_mean_ratio_same_claimers": sameClaimers,
		"rate_ratio_same_claimers": fourByOne.Rate / one.Rate,
		"claim_mean_ratio_4_to_1":  ratio, "target_claim_mean_ratio": 1.1,
		"rate_ratio_4_to_1": four.Rate / one.Rate, "target_rate_ratio": 0.97})
}
