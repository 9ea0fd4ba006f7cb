package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
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

// errWriterWaits ends a batch call whose hold found a consent writer waiting.
var errWriterWaits = errors.New("a consent writer waits for one of the batch's subscribers")

// errConsentLocksLost is the cause of a send group's messages not sent: the
// session holding their consent locks ended before their calls (a consent
// writer took over from the stalled group, or the server went away).
var errConsentLocksLost = errors.New("the send group's consent locks ended before its calls")

// consentHold is a send group's hold on the transaction with its consent
// locks (ledger.go underConsent), kept in the context of its sends.
type consentHold struct {
	tx   *sqlx.Tx
	subs []int64    // the subscribers whose locks it holds
	mu   sync.Mutex // the transaction runs one statement at a time
	last time.Time  // start of the last statement the session answered
	lost error
	// Read without mu by heldContext (a send must not wait for a ping):
	// last as time since born, and whether lost is set.
	born   time.Time
	lastAt atomic.Int64
	gone   atomic.Bool
	// yield: a consent writer waits for one of subs; the batch stops
	// at its next chunk (sendChunks), the call under way finishing.
	yield atomic.Bool
}

// newHold returns the hold of tx on subs, whose session answered a
// statement begun at last.
func newHold(tx *sqlx.Tx, subs []int64, last time.Time) *consentHold {
	return &consentHold{tx: tx, subs: subs, last: last, born: last}
}

// answered records an answer to a statement begun at start (mu held).
func (h *consentHold) answered(start time.Time) {
	h.last = start
	h.lastAt.Store(int64(start.Sub(h.born)))
}

// lose records why the hold is gone (mu held).
func (h *consentHold) lose(err error) {
	h.lost = fmt.Errorf("%w: %w", errConsentLocksLost, err)
	h.gone.Store(true)
}

// stale reports, without mu, whether a call may no longer start.
func (h *consentHold) stale() bool {
	return h.gone.Load() || time.Since(h.born)-time.Duration(h.lastAt.Load()) >= leaseProbe
}

type holdKey struct{}

// holdOf returns the consent hold ctx's sends run under, or nil.
func holdOf(ctx context.Context) *consentHold {
	h, _ := ctx.Value(holdKey{}).(*consentHold)
	return h
}

// ping asks the session (mu held); a failure loses the hold.
func (h *consentHold) ping(ctx context.Context) {
	if h.lost != nil {
		return
	}
	start := time.Now()
	if _, err := h.tx.ExecContext(ctx, `SELECT 1`); err != nil {
		h.lose(err)
		return
	}
	h.answered(start)
}

// askWriters is the batch keepalive's ping (mu held): it also asks whether
// a consent writer waits for one of the hold's subscribers, and then asks
// the batch to yield its messages not yet sent (at its next chunk) instead
// of making the writer wait for the rest.
func (h *consentHold) askWriters(ctx context.Context) {
	if h.lost != nil {
		return
	}
	start := time.Now()
	waits, err := consent.WriterWaits(ctx, h.tx, h.subs)
	switch {
	case err != nil:
		h.lose(err)
	case waits:
		h.yield.Store(true)
		h.answered(start)
	default:
		h.answered(start)
	}
}

// fresh is called right before each provider call under a hold: when the
// session last answered more than leaseProbe ago (a slot waited for, a
// freeze) it is asked again, and a session that has ended fails the call
// before it is made. Without a hold (a person's reply) it does nothing.
func fresh(ctx context.Context) error {
	h := holdOf(ctx)
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost == nil && time.Since(h.last) >= leaseProbe {
		h.ping(ctx)
	}
	return h.lost
}

// batchContext is the context of one batch call under ctx's hold (a batch
// sender may hand its messages over one by one, for as long as it takes):
// a keepalive asks the session every half leaseProbe meanwhile (askWriters),
// and the context ends when its Err is next asked (a batch sender asks
// before it hands each message over) with the hold lost or its session's
// last answer leaseProbe old — after a freeze or a starved keepalive, the
// next message does not go.
// stop ends the keepalive. Without a hold it returns ctx.
func batchContext(ctx context.Context) (context.Context, func()) {
	h := holdOf(ctx)
	if h == nil {
		return ctx, func() {}
	}
	bctx, cancel := context.WithCancel(ctx)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(leaseProbe / 2)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-bctx.Done():
				return
			case <-t.C:
			}
			h.mu.Lock()
			h.askWriters(bctx)
			lost := h.lost
			h.mu.Unlock()
			if lost != nil || h.yield.Load() {
				// Not cancelled here: a call under way is left to
				// finish (cancelling it could lose whether it got
				// through).
				return
			}
		}
	}()
	return &heldContext{Context: bctx, h: h, cancel: cancel}, func() {
		close(stop)
		<-done
		cancel()
	}
}

// heldContext is batchContext's context: its Err first ends it when the
// hold is stale or lost. Done does not: database/sql and net/http look at
// Done once a statement or request is under way (database/sql again after
// the statement, before it reads the rows), and ending the context then
// loses whether a message the provider took got through; it was recorded
// pending and handed over again.
type heldContext struct {
	context.Context
	h      *consentHold
	cancel context.CancelFunc
}

func (c *heldContext) check() {
	if c.h.stale() {
		c.cancel()
	}
}

func (c *heldContext) Err() error {
	c.check()
	return c.Context.Err()
}

// batchChunk is how long one batch call under a consent hold should take:
// between calls the batch yields to a consent writer waiting for one of its
// subscribers, so the writer waits for about this long, not the batch.
const batchChunk = 50 * time.Millisecond

// firstChunk is the first call's size, before its time per message is known.
const firstChunk = 4

// sendChunks hands msgs to bs in calls of about batchChunk each (one call
// without a consent hold). Before each call the hold must still be held
// and no writer may wait (askWriters); otherwise the rest yield with
// errConsentLocksLost, as do the messages a call's context ended before
// (batchContext): no provider call was made for them.
func (e *Engine) sendChunks(ctx context.Context, bs BatchSender, ch string, msgs []channels.Message) ([]channels.Result, []error) {
	n := len(msgs)
	rs, errs := make([]channels.Result, n), make([]error, n)
	h := holdOf(ctx)
	size := n
	if h != nil {
		size = min(firstChunk, n)
	}
	// One keepalive for all the calls: the hold's session is asked every
	// half leaseProbe from the first call to the last.
	bctx, stop := batchContext(ctx)
	defer stop()
	for start := 0; start < n; {
		if h != nil {
			err := fresh(ctx)
			if err == nil && h.yield.Load() {
				err = fmt.Errorf("%w: %w", errConsentLocksLost, errWriterWaits)
			}
			if err != nil {
				for k := start; k < n; k++ {
					errs[k] = err
				}
				break
			}
		}
		end := start + size
		r, es, took := e.callBatch(bctx, bs, ch, msgs[start:end])
		held := bctx.Err() == nil || ctx.Err() != nil
		for k := range r {
			rs[start+k], errs[start+k] = r[k], es[k]
			if es[k] != nil && !held {
				errs[start+k] = errConsentLocksLost
			}
		}
		per := took / time.Duration(end-start)
		start = end
		if per > 0 {
			size = min(max(int(batchChunk/per), firstChunk), n-start)
		} else {
			size = n - start
		}
	}
	return rs, errs
}
