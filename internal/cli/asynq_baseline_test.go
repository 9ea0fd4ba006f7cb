package cli

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/worker"
)

// asynqRoundTrip is the reply path's baseline (issue 19 item 4): n bare Asynq
// tasks enqueued at rate per second on a Redis database of their own, each
// timed from its enqueue to its no-op handler, with the handlers and the idle
// poll interval of a worker's default settings. It returns the p50 and p99 in
// milliseconds.
func asynqRoundTrip(b *testing.B, rate, n int) (p50, p99 float64) {
	b.Helper()
	rc, err := redisconn.Parse(testenv.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	st := worker.LoadSettings(&config.Env{Lookup: func(string) (string, bool) { return "", false }})
	srv := asynq.NewServer(rc.Asynq(), asynq.Config{Concurrency: st.Concurrency, TaskCheckInterval: st.TaskCheck,
		LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(_ context.Context, t *asynq.Task) error {
		ns, err := strconv.ParseInt(string(t.Payload()), 10, 64)
		if err != nil {
			return err
		}
		d := time.Since(time.Unix(0, ns))
		mu.Lock()
		lat = append(lat, d)
		if len(lat) == n {
			close(done)
		}
		mu.Unlock()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	cl := asynq.NewClient(rc.Asynq())
	defer cl.Close()
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t := asynq.NewTask("bench:noop", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
				if _, err := cl.Enqueue(t); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	offer(rate, n, jobs)
	close(jobs)
	wg.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("asynq baseline: %d of %d tasks handled", len(lat), n)
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	return ms(0.5), ms(0.99)
}

// offer puts 0..n-1 on jobs at rate per second (every 10 ms what is due).
func offer(rate, n int, jobs chan<- int) {
	began := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < n; {
		<-tick.C
		due := int(float64(rate) * time.Since(began).Seconds())
		for ; sent < due && sent < n; sent++ {
			jobs <- sent
		}
	}
}
