package redisconn_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/internal/redisconn"
)

// testQueue is an Asynq client and server on one Conn, as the worker wires
// them; the server counts how often each task (named by its id, which is
// also its payload) ran.
type testQueue struct {
	t   *testing.T
	cl  *asynq.Client
	mu  sync.Mutex
	ran map[string]int
}

func startQueue(t *testing.T, conn redisconn.Conn) *testQueue {
	t.Helper()
	q := &testQueue{t: t, cl: asynq.NewClient(conn.Asynq()), ran: map[string]int{}}
	srv := asynq.NewServer(conn.Asynq(), asynq.Config{Concurrency: 2, Queues: map[string]int{"nudge": 1},
		TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", func(_ context.Context, task *asynq.Task) error {
		q.mu.Lock()
		q.ran[string(task.Payload())]++
		q.mu.Unlock()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); q.cl.Close() })
	return q
}

// enqueue puts task id on the queue.
func (q *testQueue) enqueue(id string) error {
	_, err := q.cl.EnqueueContext(context.Background(), asynq.NewTask("t", []byte(id)), asynq.TaskID(id), asynq.Queue("nudge"))
	return err
}

// waitRan waits until each of ids ran, and fails when one ran twice.
func (q *testQueue) waitRan(ids ...string) {
	q.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q.mu.Lock()
		done := 0
		for _, id := range ids {
			switch n := q.ran[id]; {
			case n > 1:
				q.mu.Unlock()
				q.t.Fatalf("task %s ran %d times", id, n)
			case n == 1:
				done++
			}
		}
		q.mu.Unlock()
		if done == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			q.t.Fatalf("%d of %d tasks ran", done, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
