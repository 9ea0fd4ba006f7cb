package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// withIdleTimeout gives the engine its own pool whose sessions end after
// idle in a transaction for d, as `nudge worker` opens it.
func withIdleTimeout(d time.Duration) option {
	return func(h *harness, c *Config, _ *sandbox.Config) {
		dsn, err := db.WithSessionTimeouts(h.dbURL, time.Minute, d)
		if err != nil {
			h.t.Fatal(err)
		}
		wd, err := sqlx.Open(db.DriverName, dsn)
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { wd.Close() })
		c.DB, c.IdleTxTimeout = wd, d
	}
}

// claimBackend waits for a claim waiting on providers (its session idle in
// a transaction) and returns its backend pid.
func (h *harness) claimBackend() int {
	h.t.Helper()
	var pid int
	// A transaction open for a while, not one between two of its first
	// statements (a loaded box shows that too); its idle spells last no
	// longer than the keepalive's probe (leaseProbe).
	testenv.WaitFor(h.t, "a claim waiting on the provider", 20*time.Second, func() bool {
		err := h.db.Get(&pid, `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'
  AND now() - xact_start > interval '300 milliseconds' LIMIT 1`)
		return err == nil
	})
	return pid
}

// A claim whose sends take longer than the idle-in-transaction timeout
// keeps its lease (its keepalive pings) and commits every message once.
func TestSlowClaimKeepsItsLease(t *testing.T) {
	h := setup(t, withIdleTimeout(500*time.Millisecond), withSandbox(sandbox.Behavior{Delay: 120 * time.Millisecond}),
		func(_ *harness, c *Config, _ *sandbox.Config) { c.BatchSize = 10 })
	h.blast("slow", 10, t0.Add(-time.Minute))
	start := time.Now()
	n, err := h.engine.workDue(context.Background())
	if err != nil || n != 10 {
		t.Fatalf("claim: %d runs, %v; want 10, nil", n, err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("the claim took %v: not longer than twice the idle timeout, the test proves nothing", took)
	}
	h.wantCount("sent messages", 10, `SELECT count(*) FROM messages WHERE status = 'sent'`)
	h.wantCount("done runs", 10, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
	h.wantCount("provider calls", 10, `SELECT count(*) FROM sandbox_sends`)
}

// A claim whose session ends under it (the server's idle timeout after a
// freeze, a terminated backend) stops sending: the runs it has not sent are
// another claim's now.
func TestLostLeaseStopsTheClaimsSends(t *testing.T) {
	h := setup(t, withIdleTimeout(2*time.Second), withSandbox(sandbox.Behavior{Delay: 100 * time.Millisecond}),
		func(_ *harness, c *Config, _ *sandbox.Config) { c.BatchSize = 30 })
	h.blast("lost", 30, t0.Add(-time.Minute))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := h.engine.workDue(context.Background())
		done <- result{n, err}
	}()
	pid := h.claimBackend()
	testenv.WaitFor(h.t, "the first sends", 10*time.Second, func() bool { return h.count(`SELECT count(*) FROM sandbox_sends`) >= 3 })
	h.exec(`SELECT pg_terminate_backend($1)`, pid)
	atEnd := h.count(`SELECT count(*) FROM sandbox_sends`)
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the claim went on after its session ended")
	}
	if r.err != nil {
		t.Fatalf("a lost lease is not the claim's failure: %v", r.err)
	}
	sent := h.count(`SELECT count(*) FROM sandbox_sends`)
	// The keepalive pings every leaseProbe (200ms, two sends here) while
	// the claim calls the provider; a failed ping cancels the sends.
	if sent-atEnd > 6 || sent >= 30 {
		t.Fatalf("%d provider calls after the session ended (%d in all of 30)", sent-atEnd, sent)
	}
	if got := h.count(`SELECT count(*) FROM messages`); got != 0 {
		t.Fatalf("%d message rows committed by a claim without its lease", got)
	}
	t.Logf("%d sends before the session ended, %d after", atEnd, sent-atEnd)
}

// A claim whose context is cancelled (task timeout, shutdown) rolls back at
// once: its runs are free for another worker while the provider still hangs.
func TestCancelledClaimReleasesItsRunsAtOnce(t *testing.T) {
	h := setup(t, withIdleTimeout(30*time.Second), withSandbox(sandbox.Behavior{Delay: 30 * time.Second}),
		func(_ *harness, c *Config, _ *sandbox.Config) { c.BatchSize = 5 })
	h.blast("cancel", 5, t0.Add(-time.Minute))
	cancel, done := h.claimAside()
	h.claimBackend()
	free := `SELECT count(*) FROM (SELECT id FROM flow_runs FOR NO KEY UPDATE SKIP LOCKED) f`
	if got := h.count(free); got != 0 {
		t.Fatalf("%d of 5 runs free while the claim holds them", got)
	}
	cancel()
	start := time.Now()
	for h.count(free) != 5 {
		if time.Since(start) > 2*time.Second {
			t.Fatal("the cancelled claim still holds its runs after 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	released := time.Since(start)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("claim returned %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the cancelled claim did not return")
	}
	if released > 500*time.Millisecond {
		t.Fatalf("runs released %v after the cancel, want at once", released)
	}
	t.Logf("runs released %v after the cancel", released)
}

// A batch call under way does not make an opt-out wait for the rest of it:
// the hold's keepalive sees the consent writer waiting, the batch's
// messages not yet handed over yield (pending, no try counted), and nothing
// reaches the opted-out subscriber after the opt-out commits.
func TestBatchYieldsToAnOptOut(t *testing.T) {
	h := setup(t, withIdleTimeout(30*time.Second), withSandbox(sandbox.Behavior{Delay: 200 * time.Millisecond}),
		func(_ *harness, c *Config, _ *sandbox.Config) { c.BatchSize = 20 })
	subs := h.blast("yield", 20, t0.Add(-time.Minute))
	done := make(chan error, 1)
	go func() {
		for {
			_, err := h.engine.workDue(context.Background())
			var sent int
			if err == nil {
				err = h.db.Get(&sent, `SELECT count(*) FROM sandbox_sends`)
			}
			if err != nil || sent >= 3 {
				done <- err
				return
			}
			// A keepalive starved on a loaded box let the hold go
			// stale and the batch yield before 3 sends: its runs come
			// back after optOutYield.
			h.clock.Advance(optOutYield)
		}
	}()
	testenv.WaitFor(h.t, "the first sends", time.Minute, func() bool { return h.count(`SELECT count(*) FROM sandbox_sends`) >= 3 })
	// Which subscriber the batch reaches last is the claim's order; the
	// opt-out is for one it has not reached yet.
	var sub int64
	for i := len(subs) - 1; i >= 0 && sub == 0; i-- {
		if h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, fmt.Sprintf("sb%d", subs[i])) == 0 {
			sub = subs[i]
		}
	}
	if sub == 0 {
		t.Fatal("the batch reached every subscriber before the opt-out")
	}
	b := consent.NewBinder(h.db, nil, time.Now)
	if err := b.OptOut(context.Background(), channels.Event{Type: channels.EventOptOut, Channel: "sandbox",
		From: fmt.Sprintf("sb%d", sub), ProviderEventID: "stop-yield"}); err != nil {
		t.Fatalf("opt-out: %v", err)
	}
	committed := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the claim did not return")
	}
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1 AND created_at > $2`,
		fmt.Sprintf("sb%d", sub), committed); got != 0 {
		t.Fatalf("subscriber %d's message reached the provider after the opt-out", sub)
	}
	// The writer did not wait for the whole batch: messages were left
	// pending for their runs' next turn, without a try counted.
	yielded := h.count(`SELECT count(*) FROM messages WHERE status = 'pending' AND tries = 0`)
	sent := h.count(`SELECT count(*) FROM sandbox_sends`)
	if yielded == 0 || sent >= 20 {
		t.Fatalf("%d messages yielded, %d of 20 sent: the opt-out waited for the whole batch", yielded, sent)
	}
	t.Logf("%d sent before the opt-out, %d yielded", sent, yielded)
}

// handOver is a batch sender that, like the sandbox and VK, asks its
// context before it hands each message over; the hold ends while the
// provider answers, and then it looks at the context as database/sql does
// once its statement is done (Rows.initContextClose).
type handOver struct {
	h    *consentHold
	took []string
}

func (f *handOver) SendBatch(ctx context.Context, msgs []channels.Message) ([]channels.Result, []error) {
	rs, errs := make([]channels.Result, len(msgs)), make([]error, len(msgs))
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		f.took = append(f.took, m.IdempotencyKey)
		f.h.mu.Lock()
		f.h.lose(errors.New("a consent writer ended the session"))
		f.h.mu.Unlock()
		select {
		case <-ctx.Done():
			errs[i] = ctx.Err()
		default:
			rs[i] = channels.Result{ProviderID: "p-" + m.IdempotencyKey}
		}
	}
	return rs, errs
}

// A call under way is never cut short by its consent hold ending: the
// message the provider took is sent, the ones after it yield. Cutting the
// call short after the hand-over (database/sql and net/http look at their
// context then) recorded a message the provider had taken as pending, and
// it was handed over again later (the sandbox's and chaos' duplicate
// calls in an opt-out race).
func TestCallUnderWayOutlivesItsHold(t *testing.T) {
	h := setup(t)
	tx, err := h.db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	hold := newHold(tx, nil, time.Now())
	ctx := context.WithValue(context.Background(), holdKey{}, hold)
	f := &handOver{h: hold}
	msgs := []channels.Message{{IdempotencyKey: "a"}, {IdempotencyKey: "b"}, {IdempotencyKey: "c"}}
	rs, errs := h.engine.sendChunks(ctx, f, "sandbox", msgs)
	if len(f.took) != 1 || f.took[0] != "a" {
		t.Fatalf("the provider took %q, want the first message only", f.took)
	}
	if errs[0] != nil || rs[0].ProviderID != "p-a" {
		t.Fatalf("the message the provider took: %+v, %v; want it sent", rs[0], errs[0])
	}
	for i := 1; i < len(msgs); i++ {
		if !errors.Is(errs[i], errConsentLocksLost) {
			t.Fatalf("message %d, not handed over: %v; want it to yield (%v)", i, errs[i], errConsentLocksLost)
		}
	}
}
