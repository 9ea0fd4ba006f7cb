package worker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// startWorker starts `nudge worker` against the harness's databases.
func (h *harness) startWorker(extra ...string) *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(testenv.NudgeBinary(h.t), "worker")
	cmd.Env = append(os.Environ(),
		"NUDGE_DATABASE_URL="+h.dbURL, "NUDGE_REDIS_URL="+h.redisURL,
		"NUDGE_WORKER_LEASE=3s", "NUDGE_WORKER_POLL=200ms", "NUDGE_WORKER_BATCH=100",
		"NUDGE_SANDBOX_DELAY=4ms", "NUDGE_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// midBlast starts a blast of n, due a minute ago, with one worker process
// and returns that worker once 300 are sent: the test disrupts it there.
func (h *harness) midBlast(id string, n int) *exec.Cmd {
	h.t.Helper()
	h.blast(id, n, time.Now().Add(-time.Minute))
	w := h.startWorker()
	h.waitSends(300)
	return w
}

func (h *harness) assertExactlyOneEach(n int) {
	h.t.Helper()
	if got := h.count(`SELECT count(*) FROM sandbox_sends`); got != n {
		h.t.Fatalf("sandbox sends = %d, want %d", got, n)
	}
	if got := h.count(`SELECT count(DISTINCT address) FROM sandbox_sends`); got != n {
		h.t.Fatalf("distinct recipients = %d, want %d", got, n)
	}
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); got != n {
		h.t.Fatalf("sent message rows = %d, want %d", got, n)
	}
	if got := h.count(`SELECT count(*) FROM messages`); got != n {
		h.t.Fatalf("message rows = %d, want %d", got, n)
	}
}

// Kill -9 a worker process mid-blast, start another: every subscriber gets
// exactly one message.
func TestKill9MidBlastExactlyOnce(t *testing.T) {
	h := setupDB(t)
	const n = 3000
	a := h.midBlast("kill", n)
	h.killWorker(a)
	atKill := h.count(`SELECT count(*) FROM sandbox_sends`)
	if atKill >= n {
		t.Fatalf("the blast finished before the kill (%d sends): make it slower", atKill)
	}
	pendingAtKill := h.count(`SELECT count(*) FROM messages WHERE status = 'pending'`)
	t.Logf("killed with %d of %d sent, %d message rows pending", atKill, n, pendingAtKill)
	restarted := time.Now()
	b := h.startWorker()
	h.waitDone(n, 4*time.Minute)
	t.Logf("the second worker finished the blast %v after it started", time.Since(restarted).Round(10*time.Millisecond))
	h.stopWorker(b)
	h.assertExactlyOneEach(n)
}

// FLUSHALL of the worker's Redis mid-campaign: every subscriber still gets
// exactly one message (the dispatcher re-enqueues from Postgres). The test
// flushes its own Redis database (FLUSHDB): FLUSHALL would wipe the other
// tests' databases on the shared server.
func TestRedisFlushMidBlastExactlyOnce(t *testing.T) {
	h := setupDB(t)
	const n = 3000
	w := h.midBlast("flush", n)
	rdb := testenv.RedisClientAt(t, h.redisURL)
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	atFlush := h.count(`SELECT count(*) FROM sandbox_sends`)
	if atFlush >= n {
		t.Fatalf("the blast finished before the flush (%d sends)", atFlush)
	}
	t.Logf("flushed Redis with %d of %d sent", atFlush, n)
	h.waitDone(n, 3*time.Minute)
	h.stopWorker(w)
	h.assertExactlyOneEach(n)
}

// waitSends waits up to a minute until the sandbox has sent n messages.
func (h *harness) waitSends(n int) {
	h.t.Helper()
	testenv.WaitFor(h.t, fmt.Sprintf("the first %d sends", n), time.Minute, func() bool { return h.count(`SELECT count(*) FROM sandbox_sends`) >= n })
}

// waitDone waits up to d until all n runs are done.
func (h *harness) waitDone(n int, d time.Duration) {
	h.t.Helper()
	testenv.WaitFor(h.t, "every run done", d, func() bool { return h.count(`SELECT count(*) FROM flow_runs WHERE state = 'done'`) == n })
}

// killWorker kills w with SIGKILL, as a crash would, and reaps it.
func (h *harness) killWorker(w *exec.Cmd) {
	h.t.Helper()
	if err := w.Process.Signal(syscall.SIGKILL); err != nil {
		h.t.Fatal(err)
	}
	_ = w.Wait()
}

// stopWorker stops w with SIGTERM; it must exit cleanly.
func (h *harness) stopWorker(w *exec.Cmd) {
	h.t.Helper()
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		h.t.Fatal(err)
	}
	if err := w.Wait(); err != nil {
		h.t.Fatalf("worker exit after SIGTERM: %v", err)
	}
}
