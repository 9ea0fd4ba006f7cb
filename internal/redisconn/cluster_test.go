package redisconn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	q := startQueue(t, conn)
	var ids []string
	for i := 0; i < 50; i++ {
		id := fmt.Sprint(i)
		if err := q.enqueue(id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	q.waitRan(ids...)

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
