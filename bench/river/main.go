// Command river-burndown is the peer baseline of `make bench`: River's
// burn-down (github.com/riverqueue/river, as its own `river bench -n N`
// runs it) reproduced with River as a library over the same Postgres the
// engine uses. It migrates River's schema into an empty database, inserts N
// no-op jobs in batches of 5,000, starts one client with the settings River's
// benchmark uses (fetch cooldown 2 ms, poll interval 20 ms, 2,000 workers on
// the default queue) and prints one JSON line: jobs, seconds from the start
// of the client to the last job completed, and jobs per second.
//
// It is a module of its own so that River and pgx stay out of the engine's
// go.mod; bench.BenchmarkBlast100k builds and runs it in the same run as the
// blast it is compared with.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// noopArgs is the job: a number, nothing to do.
type noopArgs struct {
	Num int `json:"num"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// result is the line printed on success.
type result struct {
	Jobs          int     `json:"jobs"`
	Seconds       float64 `json:"seconds"`
	JobsPerSecond float64 `json:"jobs_per_second"`
	InsertSeconds float64 `json:"insert_seconds"`
}

func main() {
	url := flag.String("database-url", os.Getenv("DATABASE_URL"), "an empty Postgres database (River's schema is migrated into it)")
	n := flag.Int("n", 100_000, "jobs to insert and burn down")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := burnDown(ctx, *url, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "river-burndown:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func burnDown(ctx context.Context, url string, n int) (result, error) {
	if url == "" {
		return result{}, fmt.Errorf("no database: set -database-url or DATABASE_URL")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return result{}, fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mig, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: log})
	if err != nil {
		return result{}, fmt.Errorf("migrator: %w", err)
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return result{}, fmt.Errorf("migrate: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{})
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2_000}},
		Workers:           workers,
	})
	if err != nil {
		return result{}, fmt.Errorf("client: %w", err)
	}
	// Completions are counted from the client's event stream, which sees a
	// job only once the completer has recorded it, as River's benchmark does.
	events, stop := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: n + 1,
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled}})
	defer stop()

	insertStart := time.Now()
	const batch = 5_000
	params := make([]river.InsertManyParams, 0, batch)
	for i := 0; i < n; i += batch {
		params = params[:0]
		for j := i; j < min(i+batch, n); j++ {
			params = append(params, river.InsertManyParams{Args: noopArgs{Num: j}})
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			return result{}, fmt.Errorf("insert jobs %d..%d: %w", i, i+len(params), err)
		}
	}
	insertSeconds := time.Since(insertStart).Seconds()

	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return result{}, fmt.Errorf("start: %w", err)
	}
	defer func() { _ = client.Stop(context.Background()) }()
	var last time.Time
	for done := 0; done < n; done++ {
		select {
		case ev := <-events:
			if ev == nil {
				return result{}, fmt.Errorf("event stream closed after %d jobs", done)
			}
			if ev.Kind != river.EventKindJobCompleted {
				return result{}, fmt.Errorf("job %d: %s", ev.Job.ID, ev.Kind)
			}
			last = time.Now()
		case <-ctx.Done():
			return result{}, fmt.Errorf("%d of %d jobs worked: %w", done, n, ctx.Err())
		}
	}
	secs := last.Sub(start).Seconds()
	return result{Jobs: n, Seconds: secs, JobsPerSecond: float64(n) / secs, InsertSeconds: insertSeconds}, nil
}
