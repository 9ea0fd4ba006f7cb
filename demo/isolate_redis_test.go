package demo

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/redislease"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// A fresh demo on a Sentinel-monitored Redis leases, empties and hands on
// a database of the master behind the Sentinel, and gives it back.
func TestFreshStoreOnSentinel(t *testing.T) {
	set := testenv.StartSentinelSet(t)
	ctx := context.Background()
	st := &store{Database: fmt.Sprintf("nudge_demo_sentinel_%d", time.Now().UnixNano()%1e9), RedisDB: 3, explicit: true, token: "demo-test"}
	_, redisURL, err := st.prepare(ctx, testenv.DatabaseURL(), set.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	if want := set.URL(3); redisURL != want {
		t.Fatalf("the demo's Redis URL = %q, want %q", redisURL, want)
	}
	rc, err := redisconn.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := rc.Client()
	defer c.Close()
	if err := c.Set(ctx, "demo-key", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	master := set.Master.Client()
	if v, _ := master.Get(ctx, redislease.Key(3)).Result(); v != "demo-test" {
		t.Errorf("the lease of DB 3 on the master = %q, want the demo's token", v)
	}
	if err := st.drop(ctx, testenv.DatabaseURL(), set.URL(0)); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, "demo-key").Result(); n != 0 {
		t.Error("drop left the demo's Redis database full")
	}
	if n, _ := master.Exists(ctx, redislease.Key(3)).Result(); n != 0 {
		t.Error("drop kept the lease")
	}
}

// A Cluster has no database of its own to give a fresh demo: it says so.
func TestFreshStoreRefusesCluster(t *testing.T) {
	_, err := demoRedis("redis-cluster://:pw@n1:7000,n2:7001")
	if err == nil || !strings.Contains(err.Error(), "only database 0") || strings.Contains(err.Error(), "pw") {
		t.Errorf("demoRedis(cluster) = %v, want a refusal naming database 0 without the password", err)
	}
	if _, err := demoRedis("redis-sentinel://s1/m/0"); err != nil {
		t.Errorf("demoRedis(sentinel) = %v", err)
	}
}
