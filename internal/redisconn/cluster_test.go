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
	// The limiter's script keeps its schedule on the cluster: ten messages to
	// ten chats (ten keys, one hash tag, one slot) get slots 1/20 s apart.
	lim := ratelimit.New(rdb, map[string]ratelimit.Rate{"sandbox": {PerSecond: 20, PerChatPerSecond: 1}})
	chats := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	slots, err := lim.Reserve(ctx, "sandbox", "acct", chats, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if span, least := slots[9].At.Sub(slots[0].At), 9*time.Second/20; !slots[9].OK || span < least {
		t.Errorf("ten slots at 20/s span %v (reserved %v), want at least %v", span, slots[9].OK, least)
	}
}
