package consent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
)

// Taking over from a stale sender.
//
// A consent writer (an opt-out above all) waits for the senders holding its
// subscriber's shared lock: their re-read saw consent, so their sends may
// go out first. A sender that is frozen (SIGSTOP, a stalled VM) or whose
// process hangs holds that lock until its session ends, which the idle
// timeout alone puts at tens of seconds. So a writer waits at most
// StaleSender for a holder that has run no statement: past that, the
// holder's session is terminated and the writer takes the lock.
//
// That is safe because of the senders' promise (worker/lease.go): no
// provider call starts unless a statement on the session holding its
// consent lock was answered within SenderProbe before it. A session idle
// for StaleSender by the server's clock has answered nothing for that long,
// so its sender would have to ask again before any call, and the answer is
// the terminated session: it sends nothing after the writer commits. The
// gap between the two bounds is what a call has to reach its provider
// after the sender's last check (a call under way when the writer commits
// was handed over before it).

// SenderProbe is the longest a sender calls providers without having heard
// from the session holding its consent locks.
const SenderProbe = 200 * time.Millisecond

// StaleSender is how long a sender's session may hold a subscriber's shared
// lock without running a statement before a waiting consent writer ends it.
const StaleSender = 500 * time.Millisecond

// lockProbe is how long a writer waits for the lock before it looks for
// stale holders again.
const lockProbe = 100 * time.Millisecond

const (
	// Holders of the shared lock of one of $1 whose session is idle in a
	// transaction, or blocked writing to a client that does not read
	// (frozen mid-statement), since longer than $2 ms, by the server's
	// clock: terminated, waiting up to a second for each to go.
	// pg_advisory_xact_lock(bigint) keys a lock as classid (high half)
	// and objid (low half) with objsubid 1.
	sqlTakeOver = `
SELECT count(pg_terminate_backend(a.pid, 1000))
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.mode = 'ShareLock'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($1::bigint[])
   AND a.pid <> pg_backend_pid()
   AND (a.state IN ('idle in transaction', 'idle in transaction (aborted)')
        OR (a.state = 'active' AND a.wait_event = 'ClientWrite'))
   AND a.state_change < clock_timestamp() - make_interval(secs => $2::float8 / 1000)`

	// Whether a writer waits for the lock of one of $1 (not granted).
	sqlWriterWaits = `
SELECT EXISTS (SELECT 1 FROM pg_locks l
 WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND NOT l.granted AND l.mode = 'ExclusiveLock'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY($1::bigint[]))`
)

// WriterWaits reports whether a consent writer waits for the lock of one of
// subs: a sender holding their shared locks through a long call (a batch
// handed over message by message) asks it now and then, and yields its
// messages not yet sent rather than make an opt-out wait for the rest.
func WriterWaits(ctx context.Context, q db.Executor, subs []int64) (bool, error) {
	var waits bool
	if err := q.GetContext(ctx, &waits, sqlWriterWaits, pq.Array(subs)); err != nil {
		return false, fmt.Errorf("consent lock waiters: %w", err)
	}
	return waits, nil
}

// lockNotAvailable is lock_timeout's SQLSTATE.
const lockNotAvailable = "55P03"

// takeOver takes the writers' lock of subs (exclusive, in id order) in tx,
// ending the sessions of stale senders holding it (see above). Each wait
// is bounded by lock_timeout inside a savepoint, so a timed-out try leaves
// the transaction usable; the transaction's own lock_timeout is restored.
func takeOver(ctx context.Context, tx *sqlx.Tx, subs []int64) error {
	if len(subs) == 1 {
		// One lock (every opt-out): taken at once when free, with one
		// round trip. Several are taken in order by the loop, waiting,
		// so that two writers cannot each hold what the other waits for.
		var got bool
		if err := tx.GetContext(ctx, &got, `SELECT pg_try_advisory_xact_lock($1::bigint)`, subs[0]); err != nil {
			return fmt.Errorf("consent lock: %w", err)
		}
		if got {
			return nil
		}
	}
	var prev string
	if err := tx.GetContext(ctx, &prev, `SELECT current_setting('lock_timeout')`); err != nil {
		return fmt.Errorf("consent lock: %w", err)
	}
	stale := float64(StaleSender.Milliseconds())
	for {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT consent_lock`); err != nil {
			return fmt.Errorf("consent lock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, true)`, fmt.Sprintf("%dms", lockProbe.Milliseconds())); err != nil {
			return fmt.Errorf("consent lock: %w", err)
		}
		_, err := tx.ExecContext(ctx, sqlLock, pq.Array(subs))
		if err == nil {
			if _, err := tx.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, true)`, prev); err != nil {
				return fmt.Errorf("consent lock: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT consent_lock`); err != nil {
				return fmt.Errorf("consent lock: %w", err)
			}
			return nil
		}
		var pe *pq.Error
		if !errors.As(err, &pe) || pe.Code != lockNotAvailable {
			return fmt.Errorf("consent lock: %w", err)
		}
		// Rolling back to the savepoint undoes its lock_timeout too.
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT consent_lock`); err != nil {
			return fmt.Errorf("consent lock: %w", err)
		}
		var n int
		if err := tx.GetContext(ctx, &n, sqlTakeOver, pq.Array(subs), stale); err != nil {
			return fmt.Errorf("consent lock: end stale senders: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consent lock: %w", err)
		}
	}
}

// lockWriter takes the writers' lock of subs before a write in q: with
// takeOver when q is a transaction. On the pool the write's own statement
// takes the lock (and waits as long as the holders do), since a lock taken
// by an earlier statement would end with it.
func lockWriter(ctx context.Context, q db.Executor, subs []int64) error {
	tx, ok := q.(*sqlx.Tx)
	if !ok || len(subs) == 0 {
		return nil
	}
	return takeOver(ctx, tx, subs)
}
