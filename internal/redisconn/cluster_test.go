package redisconn_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// On a real three-node Redis Cluster, a redis-cluster:// Conn gives an Asynq
// client and server that enqueue and work tasks (their keys share the
// queue's hash tag, so Asynq's scripts stay on one slot) and a go-redis
// client the rate limiter works with.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	url, _ := testenv.StartCluster(t, 3)
	conn, err := redisconn.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	ran := map[string]int{}
	srv := asynq.NewServer(conn.Asynq(), asynq.Config{Concurrency: 2, Queues: map[string]int{"nudge": 1},
		TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", func(_ context.Context, task *asynq.Task) error {
		mu.Lock()
		ran[string(task.Payload())]++
		mu.Unlock()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	cl := asynq.NewClient(conn.Asynq())
	defer cl.Close()
	const n = 50
	for i := 0; i < n; i++ {
		id := fmt.Sprint(i)
		if _, err := cl.EnqueueContext(ctx, asynq.NewTask("t", []byte(id)), asynq.TaskID(id), asynq.Queue("nudge")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := len(ran)
		mu.Unlock()
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks ran on the cluster", done, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for id, k := range ran {
		if k != 1 {
			t.Errorf("task %s ran %d times", id, k)
		}
	}

	rdb := conn.Client()
	defer rdb.Close()
	// Ten sends at 20/s with a burst of one take about half a second: the
	// limiter's script keeps its token bucket on the cluster.
	lim := ratelimit.New(rdb, map[string]ratelimit.Rate{"sandbox": {PerSecond: 20, Burst: 1}})
	start := time.Now()
	for i := 0; i < 10; i++ {
		if err := lim.Wait(ctx, "sandbox", "acct", ""); err != nil {
			t.Fatal(err)
		}
	}
	headroom := ratelimit.Headroom
	if took, least := time.Since(start), time.Duration(float64(9*time.Second/20)/headroom); took < least*9/10 {
		t.Errorf("ten sends at 20/s took %v, want at least %v", took, least)
	}
}
