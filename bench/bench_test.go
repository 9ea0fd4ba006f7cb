package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/worker"
)

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func writeResult(b *testing.B, name string, v map[string]any) {
	b.Helper()
	v["name"] = name
	v["at"] = time.Now().UTC().Format(time.RFC3339)
	v["go"] = runtime.Version()
	v["cpus"] = runtime.NumCPU()
	out, _ := json.MarshalIndent(v, "", "  ")
	dir := filepath.Join(root(), "bench", "results")
	_ = os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(out, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
}

func table(rows ...[2]string) {
	fmt.Println("+----------------------------------+----------------------+")
	for _, r := range rows {
		fmt.Printf("| %-32s | %20s |\n", r[0], r[1])
	}
	fmt.Println("+----------------------------------+----------------------+")
}

var (
	binOnce sync.Once
	binPath string
)

func nudge(b *testing.B) string {
	binOnce.Do(func() {
		dir, _ := os.MkdirTemp("", "nudge-bench-")
		binPath = filepath.Join(dir, "nudge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/nudge")
		cmd.Dir = root()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	})
	return binPath
}

func blastDef(id string, ch string) campaigns.Definition {
	return campaigns.Definition{
		ID: id, Name: id, Topic: campaigns.TopicMarketing,
		Settings: campaigns.Settings{Channels: []string{ch}},
		Steps: []campaigns.Step{
			{ID: "menu", Send: &campaigns.SendStep{Template: "menu"}},
			{ID: "end", End: &campaigns.EndStep{}},
		},
		Templates: map[string]campaigns.Template{"menu": {"default": {
			"ru": {Text: "{{.Subscriber.Name}}, меню следующей недели готово!"},
			"en": {Text: "{{.Subscriber.Name}}, next week's menu is ready!"},
		}}},
	}
}

// seed stores the campaign and n subscribers with an identity on ch and consent.
func seed(b *testing.B, d *sqlx.DB, def campaigns.Definition, ch string, n int) {
	b.Helper()
	raw, _ := json.Marshal(def)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO campaigns (id, current_version) VALUES ($1, 'v1')`, []any{def.ID}},
		{`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ($1, 'v1', 1, $2, '')`, []any{def.ID, raw}},
		{`INSERT INTO subscribers (external_id, name, locale, time_zone)
		  SELECT 'c' || g, 'Покупатель ' || g, CASE WHEN g % 5 = 0 THEN 'en' ELSE 'ru' END, 'Europe/Moscow'
		    FROM generate_series(1, $1) g`, []any{n}},
		{`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, $1, id::text FROM subscribers`, []any{ch}},
		{`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) SELECT id, '*', 'marketing', true, 'import' FROM subscribers`, nil},
		{`ANALYZE`, nil},
	} {
		if _, err := d.Exec(q.sql, q.args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

// createRuns is the audience → runs step of a blast (set-based, as the scheduler does it).
const createRuns = `
INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, step_id, next_at)
SELECT $1, 'v1', id, 'blast', '', now() - interval '1 second' FROM subscribers`

// blastResult is what one blast through `nudge worker` processes measured.
type blastResult struct {
	Elapsed time.Duration
	// Create is the part of Elapsed that created the runs (the audience →
	// runs insert), the counterpart of River's InsertMany.
	Create time.Duration
	RSS    int64              // the first worker's peak RSS
	CPU    float64            // the first worker's CPU seconds (-1: unknown)
	PG     map[string]float64 // Postgres work per message (pgWork.perMessage)
	Claims claimStats         // nudge_claim_runs calls and time
	// Statements is what the workers sent to Postgres during the blast
	// (their nudge_db_statements_total, scraped before and after).
	Statements int64
	// WAL is the blast's WAL range and its database's OID, for pg_waldump
	// (records of relations "rel 1663/<oid>/…" are the blast's own).
	WAL      walRange
	WALKinds []walKind
}

// blastOpts shapes a blast: the worker processes and the VK account's rate
// in messages a second (0 = unlimited), shared by the workers through the
// Redis limiter.
type blastOpts struct {
	Workers int
	Rate    int
	// Concurrency is each worker's NUDGE_WORKER_CONCURRENCY (0: its default).
	Concurrency int
}

// blastProcess runs a blast of n through a `nudge worker` process and the
// VK adapter, against VK's fake in this process: an in-memory provider that
// deduplicates on random_id and writes nothing to Nudge's database, so the
// figures are the engine's own cost. It measures from the runs created to
// every run done.
func blastProcess(b *testing.B, n int, redisURL string) blastResult {
	return blastWith(b, n, redisURL, blastOpts{Workers: 1})
}

// vkRate is NUDGE_VK_RATE for perSecond messages a second: VK's rate
// counts requests, and the worker sends execute requests of
// vk.MaxExecuteCalls messages at a rate.
func vkRate(perSecond int) string {
	return strconv.FormatFloat(float64(perSecond)/vk.MaxExecuteCalls, 'f', -1, 64)
}

// blastWith is blastProcess with opt.Workers worker processes and a rate.
func blastWith(b *testing.B, n int, redisURL string, opt blastOpts) blastResult {
	dbURL := testenv.DBURL(b)
	flushRedis(b, redisURL)
	d := testenv.Open(b, dbURL, 10)
	seed(b, d, blastDef("blast", "vk"), "vk", n)
	vkf := vkfake.New()
	vkf.RatePerSecond = 0
	defer vkf.Close()
	trackClaims(b, d)
	var cmds []*exec.Cmd
	var metricsAddrs []string
	for i := 0; i < max(opt.Workers, 1); i++ {
		cmd := exec.Command(nudge(b), "worker")
		addr := testenv.FreeAddr(b)
		metricsAddrs = append(metricsAddrs, addr)
		cmd.Env = append(os.Environ(), "NUDGE_DATABASE_URL="+dbURL, "NUDGE_REDIS_URL="+redisURL, "NUDGE_WORKER_METRICS_ADDR="+addr,
			"NUDGE_LOG_LEVEL=warn", "NUDGE_WORKER_POLL=100ms", "NUDGE_WORKER_LEASE=120s",
			"NUDGE_VK_TOKEN="+vkfake.Token, "NUDGE_VK_GROUP_ID="+strconv.Itoa(vkfake.GroupID),
			"NUDGE_VK_SECRET="+vkf.Secret, "NUDGE_VK_CONFIRMATION="+vkf.Confirmation,
			"NUDGE_VK_API_URL="+vkf.APIURL(), "NUDGE_VK_RATE="+vkRate(opt.Rate))
		if opt.Concurrency > 0 {
			cmd.Env = append(cmd.Env, "NUDGE_WORKER_CONCURRENCY="+strconv.Itoa(opt.Concurrency))
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for _, cmd := range cmds {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, cmd := range cmds {
			_ = cmd.Wait()
		}
	}
	defer stop()
	time.Sleep(500 * time.Millisecond) // the worker is up
	release := reserveWAL(b, d)
	defer release()
	stmtsBefore := workerStatements(b, metricsAddrs)
	before, claimsBefore, walStart := readPGWork(b, d), readClaims(b, d), readWALRange(b, d)
	start := time.Now()
	if _, err := d.Exec(createRuns, "blast"); err != nil {
		b.Fatal(err)
	}
	created := time.Since(start)
	if _, err := d.Exec(`SELECT pg_notify('nudge_due', '')`); err != nil {
		b.Fatal(err)
	}
	// Poll through the partial index of unfinished runs: counting done runs
	// would scan the table ten times a second and slow the engine it measures.
	for {
		var busy bool
		if err := d.Get(&busy, `SELECT EXISTS (SELECT 1 FROM flow_runs WHERE state IN ('active', 'waiting'))`); err != nil {
			b.Fatal(err)
		}
		if !busy {
			break
		}
		// 30 minutes, or 400 µs a run for the 10M memory run (about 2,500
		// runs/s: the rate falls once the tables outgrow the buffer cache).
		if limit := max(30*time.Minute, time.Duration(n)*400*time.Microsecond); time.Since(start) > limit {
			b.Fatalf("blast of %d not done after %s (worker peak RSS so far %.1f MB)", n, limit, float64(peakRSS(cmds[0].Process.Pid))/1e6)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := blastResult{Elapsed: time.Since(start), Create: created, RSS: peakRSS(cmds[0].Process.Pid), CPU: -1}
	res.Statements = workerStatements(b, metricsAddrs) - stmtsBefore
	if cpu, ok := testenv.ProcessCPU(cmds[0].Process.Pid); ok {
		res.CPU = cpu
	}
	// A backend flushes its counters when it exits (an idle one may keep
	// them up to 10 s): the workers stop before the second snapshot.
	stop()
	time.Sleep(500 * time.Millisecond)
	res.PG = readPGWork(b, d).perMessage(before, n)
	res.Claims = readClaims(b, d).since(claimsBefore)
	res.WAL = walStart.until(readWALRange(b, d))
	res.WALKinds = walBreakdown(b, d, res.WAL, n)
	release()
	var done int
	_ = d.Get(&done, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
	if done != n {
		b.Fatalf("runs done = %d, want %d", done, n)
	}
	if sent := len(vkf.Sent()); sent != n {
		b.Fatalf("messages at the VK fake = %d, want %d", sent, n)
	}
	return res
}

// workerStatements sums nudge_db_statements_total over the workers'
// /metrics listeners, waiting up to 10 s for one that is not up yet.
func workerStatements(b *testing.B, addrs []string) int64 {
	b.Helper()
	var sum float64
	for _, addr := range addrs {
		var body []byte
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("worker metrics at %s: %v", addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		found := false
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "nudge_db_statements_total "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("worker metrics at %s: %q: %v", addr, line, err)
				}
				sum, found = sum+f, true
			}
		}
		if !found {
			b.Fatalf("worker metrics at %s: no nudge_db_statements_total", addr)
		}
	}
	return int64(sum)
}

// peakRSS reads VmHWM (peak resident set) of a process, in bytes.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// noopThroughput enqueues n no-op tasks one by one and processes them with
// the worker's default concurrency: the queue's own ceiling.
func noopThroughput(b *testing.B, redisURL string, n, concurrency int) float64 {
	flushRedis(b, redisURL)
	ropt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		b.Fatal(err)
	}
	var done atomic.Int64
	finished := make(chan struct{})
	srv := asynq.NewServer(ropt, asynq.Config{Concurrency: concurrency, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	cl := asynq.NewClient(ropt)
	defer cl.Close()
	start := time.Now()
	var wg sync.WaitGroup
	const producers = 8
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := p; i < n; i += producers {
				if _, err := cl.Enqueue(asynq.NewTask("noop", nil), asynq.TaskID("noop:"+strconv.Itoa(i))); err != nil {
					b.Error(err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		b.Fatal("no-op tasks not done")
	}
	return float64(n) / time.Since(start).Seconds()
}

// flushRedis empties the benchmark's own Redis database between measurements.
func flushRedis(b *testing.B, url string) {
	if err := testenv.RedisClientAt(b, url).FlushDB(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBlast100k: end to end, runs → policy → render → send → message
// rows for 100k subscribers (BENCH_BLAST_N) through the VK adapter and an
// in-memory fake, against three baselines measured in the same round on the
// same Postgres and Redis: River's burn-down of as many no-op jobs (the peer,
// target ratio ≥ 1.5), the bulk minimum — a COPY of the message rows and an
// UPDATE of the runs (target ≥ 0.6) — and raw no-op Asynq at the worker's
// concurrency (for reference). It also reports what Postgres wrote per
// message. The machines are shared: one round alone swings by ±20%, so the
// figures are the median round's.
func BenchmarkBlast100k(b *testing.B) {
	if b.N > 1 {
		b.Skip("measured once")
	}
	n := testenv.EnvInt("BENCH_BLAST_N", 100_000)
	conc, noopN, rounds := worker.DefaultConcurrency(), testenv.EnvInt("BENCH_NOOP_N", 30_000), testenv.EnvInt("BENCH_BLAST_ROUNDS", 3)
	type round struct {
		Rate, River, Bulk, Noop, RatioRiver, RatioBulk, RatioNoop, Elapsed float64
		// Like for like with River's two phases: the blast after its runs
		// exist against River's burn-down (SendPhase), and the whole blast
		// against River's InsertMany and burn-down (WithInserts).
		Create, RiverInsert, SendPhaseRatio, WithInsertsRatio float64
		RSS                                                   int64
		CPU                                                   float64 // the worker's CPU seconds
		PG                                                    map[string]float64
		WAL                                                   []walKind
		Load                                                  [2]string // load averages before and after the blast
		// Statements the worker sent to Postgres, per claim (every
		// nudge_claim_runs call, empty ones too) and per message.
		StatementsPerClaim, StatementsPerMessage float64
	}
	var rs []round
	redisURL := testenv.Redis(b)
	for i := 0; i < rounds; i++ {
		river := riverBurnDown(b, n)
		bulk := bulkMinimum(b, n)
		noop := noopThroughput(b, redisURL, noopN, conc)
		loadBefore := testenv.LoadAverage()
		res := blastProcess(b, n, redisURL)
		r := round{Rate: float64(n) / res.Elapsed.Seconds(), River: river.JobsPerSecond, Bulk: bulk, Noop: noop,
			Elapsed: res.Elapsed.Seconds(), RSS: res.RSS, CPU: res.CPU, PG: res.PG, WAL: res.WALKinds, Load: [2]string{loadBefore, testenv.LoadAverage()},
			Create: res.Create.Seconds(), RiverInsert: river.InsertSeconds}
		r.RatioRiver, r.RatioBulk, r.RatioNoop = r.Rate/r.River, r.Rate/r.Bulk, r.Rate/r.Noop
		r.StatementsPerMessage = float64(res.Statements) / float64(n)
		if res.Claims.Calls > 0 {
			r.StatementsPerClaim = float64(res.Statements) / float64(res.Claims.Calls)
		}
		r.SendPhaseRatio = float64(n) / (r.Elapsed - r.Create) / r.River
		r.WithInsertsRatio = (float64(n)/r.River + r.RiverInsert) / r.Elapsed
		fmt.Printf("round %d (load %s .. %s): %.0f msg/s in %.2fs (runs created in %.2fs); River %.0f jobs/s (ratio %.2f; inserted in %.2fs), bulk minimum %.0f rows/s (%.2f), no-op Asynq %.0f/s (%.2f); like for like with River: sends %.2f, with inserts %.2f; per message %s WAL bytes, %s WAL records (%s)\n",
			i+1, r.Load[0], r.Load[1], r.Rate, r.Elapsed, r.Create, r.River, r.RatioRiver, r.RiverInsert, r.Bulk, r.RatioBulk, r.Noop, r.RatioNoop,
			r.SendPhaseRatio, r.WithInsertsRatio, fmtPer(r.PG, "wal_bytes"), fmtPer(r.PG, "wal_records"), res.WAL)
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].RatioRiver < rs[j].RatioRiver })
	med := rs[len(rs)/2]
	printWAL(med.WAL, "the blast's own relations", "message")
	b.ReportMetric(med.Rate, "msgs/s")
	b.ReportMetric(med.RatioRiver, "ratio-to-river")
	b.ReportMetric(med.RatioBulk, "ratio-to-bulk")
	table([2]string{"blast subscribers", strconv.Itoa(n)},
		[2]string{"rounds", strconv.Itoa(rounds)},
		[2]string{"median round: elapsed", fmt.Sprintf("%.2fs", med.Elapsed)},
		[2]string{"median round: messages/s", fmt.Sprintf("%.0f", med.Rate)},
		[2]string{"River burn-down jobs/s", fmt.Sprintf("%.0f", med.River)},
		[2]string{"ratio to River (target >= 1.5)", fmt.Sprintf("%.2f", med.RatioRiver)},
		[2]string{"bulk minimum rows/s", fmt.Sprintf("%.0f", med.Bulk)},
		[2]string{"ratio to bulk (target >= 0.6)", fmt.Sprintf("%.2f", med.RatioBulk)},
		[2]string{fmt.Sprintf("ratio to no-op Asynq (conc. %d)", conc), fmt.Sprintf("%.2f", med.RatioNoop)},
		[2]string{"ratios to River min .. max", fmt.Sprintf("%.2f .. %.2f", rs[0].RatioRiver, rs[len(rs)-1].RatioRiver)},
		[2]string{"runs created / River inserted", fmt.Sprintf("%.2fs / %.2fs", med.Create, med.RiverInsert)},
		[2]string{"ratio to River, sends only", fmt.Sprintf("%.2f", med.SendPhaseRatio)},
		[2]string{"ratio to River, with inserts", fmt.Sprintf("%.2f", med.WithInsertsRatio)},
		[2]string{"WAL bytes per message", fmtPer(med.PG, "wal_bytes")},
		[2]string{"WAL records per message", fmtPer(med.PG, "wal_records")},
		[2]string{"tuples ins./upd. per message", fmtPer(med.PG, "tuples_inserted") + " / " + fmtPer(med.PG, "tuples_updated")},
		[2]string{"commits per message", fmtPer(med.PG, "commits")},
		[2]string{"HOT updates per message", fmtPer(med.PG, "hot_updates")},
		[2]string{"statements per claim / message", fmt.Sprintf("%.1f / %.3f", med.StatementsPerClaim, med.StatementsPerMessage)},
		[2]string{"load average before", med.Load[0]},
		[2]string{"load average after", med.Load[1]},
		[2]string{"worker peak RSS", fmt.Sprintf("%.1f MB", float64(med.RSS)/1e6)})
	// The blast's own relations' WAL (pg_waldump): unlike pg_stat_wal it
	// leaves out what other databases on a shared server write meanwhile.
	ownRecs, ownBytes := walTotals(med.WAL)
	writeResult(b, "blast", map[string]any{"subscribers": n, "rounds": rs, "concurrency": conc, "provider": "vk fake (in memory, dedupes random_id)",
		"elapsed_seconds": med.Elapsed, "messages_per_second": med.Rate,
		"river_jobs_per_second": med.River, "ratio_to_river": med.RatioRiver, "target_ratio_to_river": 1.5,
		"runs_created_seconds": med.Create, "river_insert_seconds": med.RiverInsert,
		"ratio_to_river_sends_only": med.SendPhaseRatio, "ratio_to_river_with_inserts": med.WithInsertsRatio,
		"bulk_minimum_rows_per_second": med.Bulk, "ratio_to_bulk_minimum": med.RatioBulk, "target_ratio_to_bulk_minimum": 0.6,
		"asynq_noop_tasks_per_second": med.Noop, "ratio_to_asynq_noop": med.RatioNoop,
		"postgres_per_message": med.PG, "wal_breakdown": med.WAL, "worker_peak_rss_bytes": med.RSS, "worker_cpu_seconds": med.CPU,
		"load_average": med.Load, "own_wal_records_per_message": ownRecs, "own_wal_bytes_per_message": ownBytes,
		"statements_per_claim": med.StatementsPerClaim, "statements_per_message": med.StatementsPerMessage})
}

// BenchmarkMemory1M: peak RSS of the `nudge worker` process during a blast
// to 1M subscribers (BENCH_MEMORY_N).
func BenchmarkMemory1M(b *testing.B) {
	if b.N > 1 {
		b.Skip("measured once")
	}
	n := testenv.EnvInt("BENCH_MEMORY_N", 1_000_000)
	res := blastProcess(b, n, testenv.Redis(b))
	elapsed, rss, load := res.Elapsed, res.RSS, testenv.LoadAverage()
	b.ReportMetric(float64(rss)/1e6, "peak-MB")
	table([2]string{"memory blast subscribers", strconv.Itoa(n)},
		[2]string{"elapsed", elapsed.Round(time.Millisecond).String()},
		[2]string{"messages/s", fmt.Sprintf("%.0f", float64(n)/elapsed.Seconds())},
		[2]string{"worker CPU", fmt.Sprintf("%.1f s", res.CPU)},
		[2]string{"worker peak RSS (<= 60 MB)", fmt.Sprintf("%.1f MB", float64(rss)/1e6)},
		[2]string{"load average", load})
	writeResult(b, "memory", map[string]any{"subscribers": n, "elapsed_seconds": elapsed.Seconds(),
		"messages_per_second": float64(n) / elapsed.Seconds(), "worker_peak_rss_bytes": rss, "target_bytes": 60_000_000,
		"worker_cpu_seconds": res.CPU, "load_average": load})
}
