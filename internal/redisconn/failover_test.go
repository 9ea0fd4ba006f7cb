package redisconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// Kill -9 the master behind a redis-sentinel:// URL: the Sentinel promotes
// the replica, and both the go-redis client and Asynq (client and server)
// built from the same Conn carry on against the new master without being
// rebuilt. Writes acknowledged by the replica before the kill survive it.
func TestSentinelFailover(t *testing.T) {
	set := testenv.StartSentinelSet(t)
	conn, err := redisconn.Parse(set.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rdb := conn.Client()
	defer rdb.Close()

	// An Asynq server and client on the same URL, as the worker has them.
	q := startQueue(t, conn)

	for i := 0; i < 100; i++ {
		if err := rdb.Incr(ctx, "counter").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.enqueue("before"); err != nil {
		t.Fatal(err)
	}
	q.waitRan("before")
	// WAIT: the replica has every write so far, so the failover may not lose them.
	if n, err := rdb.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}

	set.Master.Kill()
	killed := time.Now()
	took := set.WaitFailover(30 * time.Second)
	// The client keeps working: the first INCR that succeeds lands on the
	// promoted replica, on top of the 100 it already had.
	var v int64
	for {
		v, err = rdb.Incr(ctx, "counter").Result()
		if err == nil {
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no write succeeded 30s after the kill: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("sentinel promoted the replica %v after the kill; first write succeeded after %v",
		took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	if v != 101 {
		t.Errorf("counter after failover = %d, want 101 (the 100 acknowledged writes plus one)", v)
	}
	if got := set.MasterAddr(); got != set.Replica.Addr {
		t.Fatalf("master is %s, want the promoted replica %s", got, set.Replica.Addr)
	}
	// Asynq, started before the failover, enqueues and works on the new master.
	for i := 0; ; i++ {
		if err := q.enqueue("after"); err == nil {
			break
		} else if i > 100 {
			t.Fatalf("enqueue after failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	q.waitRan("after")
	if n, err := set.Replica.Client().Get(ctx, "counter").Int(); err != nil || n != 101 {
		t.Errorf("the promoted replica holds counter = %d, %v", n, err)
	}
}
