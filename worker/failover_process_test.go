package worker

import (
	"os/exec"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// A `nudge worker` configured with a redis-sentinel:// URL blasts 3,000
// messages; the Redis master is killed with SIGKILL mid-blast. The Sentinel
// promotes the replica, the same worker process carries on through it
// (Asynq's failover client finds the new master; tasks the dead master had
// not replicated are re-enqueued from Postgres), and every subscriber gets
// exactly one message.
func TestSentinelFailoverMidBlastExactlyOnce(t *testing.T) {
	set := testenv.StartSentinelSet(t)
	h := setupDB(t)
	h.redisURL = set.URL(0)
	const n = 3000
	h.blast("failover", n, time.Now().Add(-time.Minute))
	h.countProviderCalls()
	w := h.startWorker()
	h.waitSends(300)
	set.Master.Kill()
	killed := time.Now()
	atKill := h.count(`SELECT count(*) FROM sandbox_sends`)
	if atKill >= n {
		t.Fatalf("the blast finished before the kill (%d sends): make it slower", atKill)
	}
	took := set.WaitFailover(30 * time.Second)
	h.waitDone(n, 3*time.Minute)
	t.Logf("killed the master with %d of %d sent; the sentinel promoted the replica after %v; the blast finished %v after the kill",
		atKill, n, took.Round(time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
	if w.ProcessState != nil {
		t.Fatalf("the worker exited during the failover: %v", w.ProcessState)
	}
	h.stopAndCheckOnce(w, n)
}

// A `nudge worker` configured with a redis-cluster:// URL over a real
// three-node Redis Cluster works a blast through Asynq's cluster client:
// every subscriber gets exactly one message.
func TestClusterBlastExactlyOnce(t *testing.T) {
	url, _ := testenv.StartCluster(t, 3)
	h := setupDB(t)
	h.redisURL = url
	const n = 1000
	h.blast("cluster", n, time.Now().Add(-time.Minute))
	h.countProviderCalls()
	w := h.startWorker()
	h.waitDone(n, 2*time.Minute)
	h.stopAndCheckOnce(w, n)
}

// stopAndCheckOnce stops worker w with SIGTERM (it must exit cleanly) and
// checks that each of n subscribers got one message and the sandbox was
// handed each message once (countProviderCalls).
func (h *harness) stopAndCheckOnce(w *exec.Cmd, n int) {
	h.t.Helper()
	h.stopWorker(w)
	h.assertExactlyOneEach(n)
	if calls := h.count(`SELECT count(*) FROM test_provider_calls`); calls != n {
		h.t.Errorf("the sandbox was called %d times for %d messages: a send was repeated", calls, n)
	}
}

// countProviderCalls records every message handed to the sandbox, including
// a repeat that its unique idempotency key then absorbs (a BEFORE INSERT
// trigger fires for each proposed row, conflict or not), so a test sees the
// duplicates a provider without deduplication would deliver.
func (h *harness) countProviderCalls() {
	h.t.Helper()
	h.exec(`CREATE TABLE test_provider_calls (idempotency_key text NOT NULL)`)
	h.exec(`CREATE FUNCTION test_count_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO test_provider_calls VALUES (NEW.idempotency_key);
	RETURN NEW;
END $$`)
	h.exec(`CREATE TRIGGER test_count_call BEFORE INSERT ON sandbox_sends FOR EACH ROW EXECUTE FUNCTION test_count_call()`)
}
