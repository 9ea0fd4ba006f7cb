package worker

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

// lockedSubscriber returns a subscriber whose consent lock a claim holds
// (the shared advisory lock senders take), or 0.
func (h *harness) lockedSubscriber() int64 {
	h.t.Helper()
	var ids []int64
	if err := h.db.Select(&ids, `
SELECT objid::bigint FROM pg_locks
 WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted AND classid = 0 AND objsubid = 1
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
 LIMIT 1`); err != nil {
		h.t.Fatal(err)
	}
	if len(ids) == 0 {
		return 0
	}
	return ids[0]
}

// optOutWait freezes a worker process (SIGSTOP) mid-claim, opts out one of
// the subscribers its claim holds, and returns how long the opt-out took,
// or `limit` when it had not finished by then. The worker is resumed before
// it returns and the blast must finish.
func optOutWait(t *testing.T, idleTimeout string, limit time.Duration) time.Duration {
	h := setupDB(t)
	const n = 1500
	h.blast("hang", n, time.Now().Add(-time.Minute))
	w := h.startWorker("NUDGE_WORKER_IDLE_TX_TIMEOUT="+idleTimeout, "NUDGE_SANDBOX_DELAY=20ms", "NUDGE_WORKER_BATCH=50")
	h.waitSends(100)
	var sub int64
	for try := 0; sub == 0; try++ {
		if try == 5 {
			t.Fatal("no claim held a subscriber at any of 5 freezes")
		}
		if err := w.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if sub = h.lockedSubscriber(); sub == 0 {
			_ = w.Process.Signal(syscall.SIGCONT)
			time.Sleep(200 * time.Millisecond)
		}
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := w.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer resume()
	b := consent.NewBinder(h.db, nil, time.Now)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- b.OptOut(context.Background(), channels.Event{Type: channels.EventOptOut, Channel: "sandbox",
			From: fmt.Sprintf("sb%d", sub), ProviderEventID: "stop-1"})
	}()
	waited := limit
	var committed time.Time
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("opt-out: %v", err)
		}
		committed = time.Now()
		waited = committed.Sub(start)
	case <-time.After(limit):
		resume()
		if err := <-done; err != nil {
			t.Fatalf("opt-out after the worker resumed: %v", err)
		}
	}
	resume()
	h.waitDone(n, 2*time.Minute)
	if got := h.count(`SELECT count(*) FROM messages WHERE subscriber_id = $1 AND status = 'sent' AND sent_at > $2`, sub, start); got != 0 {
		t.Fatalf("subscriber %d was sent a message after its opt-out", sub)
	}
	// What reached the provider, recorded or not (a resumed claim that
	// lost its lease records nothing).
	if !committed.IsZero() {
		if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1 AND created_at > $2`,
			fmt.Sprintf("sb%d", sub), committed); got != 0 {
			t.Fatalf("subscriber %d's message reached the provider after its opt-out", sub)
		}
	}
	return waited
}

// A worker frozen mid-claim (SIGSTOP) does not hold an opt-out of one of
// the subscribers its claim locks: the opt-out ends the frozen session once
// it has been idle for consent.StaleSender and commits while the worker is
// still stopped, whether or not the server has an idle timeout (with none,
// nothing else would ever free the lock). Nothing is sent to the subscriber
// after the opt-out, though the worker resumes mid-claim.
func TestFrozenWorkerDoesNotHoldOptOuts(t *testing.T) {
	for _, idle := range []string{"30s", "0"} {
		t.Run("idle timeout "+idle, func(t *testing.T) {
			const limit = time.Minute // far below "until the worker resumes": it never would
			waited := optOutWait(t, idle, limit)
			if waited >= limit {
				t.Fatalf("the opt-out waited for the frozen worker to resume")
			}
			t.Logf("opt-out waited %v for the frozen worker", waited.Round(time.Millisecond))
		})
	}
}
