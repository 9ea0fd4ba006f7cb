package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
)

// Keeping a claim's lease.
//
// A claim's transaction is its lease: its row and consent locks last as long
// as the session does. The worker's sessions run with
// idle_in_transaction_session_timeout (Config.IdleTxTimeout), so a worker
// frozen mid-claim loses its session and its locks after that long, and an
// opt-out waiting on one of its subscribers goes through. A worker that is
// only slow — a provider taking seconds, a rate limiter making it wait —
// must not lose its claim that way: while the claim waits on providers, a
// keepalive pings the transaction every quarter of the timeout, and at least
// every leaseProbe. Before each
// group of provider calls the claim checks its lease (pinging when the last
// ping is older than that); a lost lease cancels the claim's context, so the
// sends it has not made are not made: another worker owns those runs now.
//
// The lease runs on wall time, not the engine's clock: the server's timeout
// is wall time.
//
// A consent writer does not wait for the idle timeout either: it ends a
// session that has held its subscriber's shared lock idle for
// consent.StaleSender (consent/takeover.go). Senders keep their side of
// that bargain here: no provider call starts unless the session holding
// its consent locks answered a statement begun within leaseProbe before it
// (check before a batch call; consentHold.fresh before each message of a
// send group). Times are monotonic, so a worker resumed after a freeze
// knows how long it slept.

// leaseProbe is the longest a claim calling providers goes without learning
// that its session has ended: a Postgres restart or a consent writer that
// ended a stale sender (consent.SenderProbe). A ping costs one round trip
// per claim per probe, and none while the claim runs statements itself.
const leaseProbe = consent.SenderProbe

// errLeaseLost is the cause of a claim's context cancelled because its
// session ended (the server's idle timeout, a terminated backend).
var errLeaseLost = errors.New("the claim lost its lease (its database session ended)")

// lease is a claim's hold on its transaction. The claim holds mu while it
// uses tx and lets go of it only around provider calls (sendJobs), so the
// keepalive never runs a statement beside the claim's own.
type lease struct {
	tx     *sqlx.Tx
	every  time.Duration
	cancel context.CancelCauseFunc

	mu   sync.Mutex
	last time.Time // last answered ping (or the start)
	lost error

	stop chan struct{}
	done chan struct{}
}

type leaseKey struct{}

// leaseOf returns the lease of the claim ctx belongs to, or nil.
func leaseOf(ctx context.Context) *lease {
	l, _ := ctx.Value(leaseKey{}).(*lease)
	return l
}

// withLeasedTx runs fn in a transaction whose lease is kept while fn waits on
// providers (see above). ctx given to fn ends when the lease is lost. The
// lease is kept without an idle timeout too: a consent writer may end a
// stale claim's session.
func (e *Engine) withLeasedTx(ctx context.Context, fn func(ctx context.Context, tx *sqlx.Tx) error) error {
	every := leaseProbe
	if e.cfg.IdleTxTimeout > 0 {
		every = min(e.cfg.IdleTxTimeout/4, leaseProbe)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		l := &lease{tx: tx, every: every, cancel: cancel, last: time.Now(),
			stop: make(chan struct{}), done: make(chan struct{})}
		l.mu.Lock()
		go l.keepalive(ctx)
		defer func() {
			close(l.stop)
			<-l.done
			l.mu.Unlock()
		}()
		return fn(context.WithValue(ctx, leaseKey{}, l), tx)
	})
	if cause := context.Cause(ctx); errors.Is(cause, errLeaseLost) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// keepalive pings the transaction every l.every while the claim waits on
// providers; while the claim runs statements itself (mu taken) the session is
// not idle and the tick is skipped.
func (l *lease) keepalive(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.mu.TryLock() {
			l.ping(ctx)
			l.mu.Unlock()
		}
	}
}

// ping runs a statement on the transaction (mu held); a failure loses the lease.
func (l *lease) ping(ctx context.Context) {
	if l.lost != nil {
		return
	}
	start := time.Now() // the session answered after this: what a consent writer's clock counts from
	if _, err := l.tx.ExecContext(ctx, `SELECT 1`); err != nil {
		l.lost = fmt.Errorf("%w: %w", errLeaseLost, err)
		l.cancel(errLeaseLost)
		return
	}
	l.last = start
}

// release lets the keepalive use the transaction while the claim calls
// providers; acquire takes it back. Both are no-ops without a lease.
func (l *lease) release() {
	if l != nil {
		l.mu.Unlock()
	}
}

func (l *lease) acquire() {
	if l != nil {
		l.mu.Lock()
	}
}

// checkHeld is check for a claim that holds the transaction (outside sendJobs).
func (l *lease) checkHeld(ctx context.Context) error {
	if l == nil {
		return nil
	}
	if l.lost == nil && time.Since(l.last) >= l.every {
		l.ping(ctx)
	}
	return l.lost
}

// check is called (the claim having released the transaction) before each
// group of provider calls: it pings when the last ping is older than
// l.every — a worker resumed after a freeze finds out here, before it sends
// more — and returns the error that lost the lease, if it was lost.
func (l *lease) check(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil && time.Since(l.last) >= l.every {
		l.ping(ctx)
	}
	return l.lost
}

// errConsentLocksLost is the cause of a send group's messages not sent: the
// session holding their consent locks ended before their calls (a consent
// writer took over from the stalled group, or the server went away).
var errConsentLocksLost = errors.New("the send group's consent locks ended before its calls")

// consentHold is a send group's hold on the transaction with its consent
// locks (ledger.go sendGroup), kept in the context of its sends. Its sends
// start one at a time (sendPaced), so it needs no mutex.
type consentHold struct {
	tx   *sqlx.Tx
	last time.Time // start of the last statement the session answered
	lost error
}

type holdKey struct{}

// withHold returns ctx carrying h for the sends of its group.
func withHold(ctx context.Context, h *consentHold) context.Context {
	return context.WithValue(ctx, holdKey{}, h)
}

// fresh is called right before each provider call of a send group: when
// the session last answered more than leaseProbe ago (a slot waited for, a
// freeze) it is asked again, and a session that has ended fails the call
// before it is made. Without a hold (a person's reply, a batch under the
// claim's lease) it does nothing.
func fresh(ctx context.Context) error {
	h, _ := ctx.Value(holdKey{}).(*consentHold)
	if h == nil {
		return nil
	}
	if h.lost != nil || time.Since(h.last) < leaseProbe {
		return h.lost
	}
	start := time.Now()
	if _, err := h.tx.ExecContext(ctx, `SELECT 1`); err != nil {
		h.lost = fmt.Errorf("%w: %w", errConsentLocksLost, err)
		return h.lost
	}
	h.last = start
	return nil
}
