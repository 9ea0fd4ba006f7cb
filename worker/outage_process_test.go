package worker

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// Redis down for 30 s mid-blast, killed (connections refused; it comes back
// empty, as after a crash without persistence) or paused with SIGSTOP
// (connections hang, as when a host or network fails; it comes back with
// its queue): a `nudge worker` on a private redis-server keeps sending
// while Redis is gone (its dispatcher claims due runs straight from
// Postgres) at no less than half its rate before, and when Redis answers
// again Asynq carries the claims. Every subscriber gets exactly one message
// and the sandbox is handed each message once.
func TestRedisOutageMidBlastKeepsSending(t *testing.T) {
	for _, mode := range []string{"killed", "paused"} {
		t.Run(mode, func(t *testing.T) { redisOutage(t, mode == "paused") })
	}
}

func redisOutage(t *testing.T, pause bool) {
	const outage = 30 * time.Second
	r := testenv.StartRedisServer(t)
	h := setupDB(t)
	h.redisURL = "redis://" + r.Addr + "/0"
	// 20ms a send and four claims at a time: about 200 messages a second,
	// so 12,000 outlast the outage with work left for Asynq after it.
	const n = 12000
	h.blast("outage", n, time.Now().Add(-time.Minute))
	h.countProviderCalls()
	metricsAddr := testenv.FreeAddr(t)
	w := h.startWorker("NUDGE_SANDBOX_DELAY=20ms", "NUDGE_WORKER_CONCURRENCY=4", "NUDGE_WORKER_POLL=500ms",
		"NUDGE_WORKER_METRICS_ADDR="+metricsAddr)
	// directClaims reads the worker's nudge_direct_claims gauge.
	directClaims := func() string {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^nudge_direct_claims (\S+)$`).FindSubmatch(b)
		if m == nil {
			return "(no gauge)"
		}
		return string(m[1])
	}
	sends := func() int { return h.count(`SELECT count(*) FROM sandbox_sends`) }
	testenv.WaitFor(h.t, "the first 300 sends", time.Minute, func() bool { return sends() >= 300 })
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	processed := func() int {
		n, err := rdb.Get(context.Background(), "asynq:{"+Queue+"}:processed").Int()
		if err != nil && err != redis.Nil {
			t.Fatalf("asynq processed count: %v", err)
		}
		return n
	}
	const window = 5 * time.Second
	a := sends()
	time.Sleep(window)
	before := float64(sends()-a) / window.Seconds()

	if pause {
		r.Pause()
	} else {
		r.Kill()
	}
	down := time.Now()
	atKill := sends()
	// The rate is taken over the outage's last 8 seconds: claim tasks
	// Asynq handed out before it run on for up to claimFor (20s) and would
	// hide a worker that stops claiming once they end.
	time.Sleep(outage - 8*time.Second)
	late, lateAt := sends(), time.Now()
	time.Sleep(time.Until(down.Add(outage)))
	atReturn := sends()
	if g := directClaims(); g != "1" {
		t.Errorf("nudge_direct_claims during the outage = %s, want 1", g)
	}
	during := float64(atReturn-late) / time.Since(lateAt).Seconds()
	if atReturn >= n {
		t.Fatalf("the blast finished during the outage (%d sends): make it longer", atReturn)
	}
	if pause {
		r.Resume()
	} else {
		r.Start()
	}
	back := time.Now()
	t.Logf("before the outage %.0f msg/s; in its last 8s %.0f msg/s (%d sent in %v without Redis)",
		before, during, atReturn-atKill, outage)
	if during < before/2 {
		t.Errorf("sending without Redis ran at %.0f msg/s, less than half of %.0f before", during, before)
	}
	testenv.WaitFor(h.t, "the direct claimers to hand back to Asynq", time.Minute, func() bool { return directClaims() == "0" })
	handedBack := processed()
	if h.count(`SELECT count(*) FROM flow_runs WHERE state = 'done'`) == n {
		t.Fatalf("the blast finished before Asynq took over again: make it longer")
	}
	h.waitDone(n, 4*time.Minute)
	t.Logf("the blast finished %v after Redis returned", time.Since(back).Round(10*time.Millisecond))
	// Asynq carried claims again once Redis was back: the direct claimers
	// stopped, and Asynq's count of processed tasks grew after that.
	if g := directClaims(); g != "0" {
		t.Errorf("nudge_direct_claims after the blast = %s, want 0", g)
	}
	if after := processed(); after <= handedBack {
		t.Errorf("Asynq processed no claim after Redis returned (%d tasks when the direct claimers stopped, %d at the end)", handedBack, after)
	}
	h.stopAndCheckOnce(w, n)
}
