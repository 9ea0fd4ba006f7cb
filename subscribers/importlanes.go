package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Two merging connections. An import's database time is mostly the merge,
// and one connection is one Postgres backend: one core. A second
// connection, the lane, stages a copy of every other batch's rows (the odd
// stripes of BatchSize rows) in its own session's import_rows and merges
// those batches while the first connection merges the ones between them.
// The first connection keeps every row, for the whole-file checks and for
// files merged in one lane.
//
// Commits stay in file order, so Report.WrittenThrough is still a committed
// prefix: a batch merged ahead waits for the batch before it to commit.
// Only a batch of new subscribers only (the bulk of a first import) is
// merged ahead: it locks nothing another batch of the file touches. A batch
// that resolves rows to existing subscribers, or meets a unique violation,
// rolls back and is merged after the batch before it.
//
// The wait for the batch before is invisible to Postgres's deadlock
// detector, so a cycle through another writer (the batch before waits for
// a lock of writer W, W waits for a row this batch inserted) would never
// break: while it waits, a batch merged ahead rolls back as soon as the
// backend of the batch before is blocked on any lock, and is merged after it.

// importLane is the second connection and its staging transaction.
type importLane struct {
	conn *sqlx.Conn
	tx   *sqlx.Tx  // the staging transaction, until stage commits it
	copy *sql.Stmt // COPY into the lane's import_rows
	size int       // rows per batch; the lane holds the odd batches
}

// laneWait bounds the wait for a second pooled connection: when the pool
// is that busy, the import merges on one.
const laneWait = time.Second

// turnPoll is how often a batch merged ahead looks whether the batch before
// it is blocked on a lock.
const turnPoll = 50 * time.Millisecond

var (
	// errBehind says a batch merged ahead must roll back and be merged
	// after the batch before it.
	errBehind = errors.New("import: merge after the batch before")
	// errPrevFailed stops the batches after a failed one.
	errPrevFailed = errors.New("import: an earlier batch failed")
)

// openLane opens the lane and its staging table; nil, nil when no second
// connection is free within laneWait.
func (im *Importer) openLane(ctx context.Context, size int) (*importLane, error) {
	octx, cancel := context.WithTimeout(ctx, laneWait)
	conn, err := im.db.Connx(octx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	l := &importLane{conn: conn, size: size}
	if l.tx, l.copy, err = openStaging(ctx, conn); err != nil {
		l.close(ctx)
		return nil, fmt.Errorf("import: second connection: %w", err)
	}
	return l, nil
}

// holds says whether the row at ord belongs to a batch the lane merges.
func (l *importLane) holds(ord int) bool { return l != nil && (ord/l.size)%2 == 1 }

// commitStaging ends the lane's COPY and commits its staged rows.
func (l *importLane) commitStaging(ctx context.Context) error {
	if l == nil {
		return nil
	}
	if _, err := l.copy.ExecContext(ctx); err != nil {
		return fmt.Errorf("import: second connection: copy: %w", err)
	}
	l.copy.Close()
	l.copy = nil
	if err := l.tx.Commit(); err != nil {
		return fmt.Errorf("import: second connection: commit staging: %w", err)
	}
	l.tx = nil
	return nil
}

// close rolls back what is still open, drops the lane's staging table and
// returns the connection to the pool, even when ctx is done.
func (l *importLane) close(ctx context.Context) {
	if l == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if l.copy != nil {
		l.copy.Close()
	}
	if l.tx != nil {
		_ = l.tx.Rollback()
	}
	_, _ = l.conn.ExecContext(ctx, qImportDropTables)
	l.conn.Close()
}

// prepare indexes and analyses the lane's staged rows, as check does the
// first connection's.
func (l *importLane) prepare(ctx context.Context) error {
	if _, err := l.conn.ExecContext(ctx, qImportPrepare); err != nil {
		return fmt.Errorf("import: second connection: index staging table: %w", err)
	}
	return nil
}

// takeChecks copies the whole-file checks' verdicts on the lane's rows
// from the first connection's staging table.
func (l *importLane) takeChecks(ctx context.Context, conn *sqlx.Conn) error {
	var ords pq.Int64Array
	var repeats pq.BoolArray
	if err := conn.QueryRowxContext(ctx, qImportLaneRejected, l.size).Scan(&ords, &repeats); err != nil {
		return fmt.Errorf("import: read checks: %w", err)
	}
	if len(ords) == 0 {
		return nil
	}
	if _, err := l.conn.ExecContext(ctx, qImportLaneReject, ords, repeats); err != nil {
		return fmt.Errorf("import: second connection: copy checks: %w", err)
	}
	return nil
}

// batchTurn is one batch's place in the commit order: done closes when the
// batch has committed (err nil) or failed.
type batchTurn struct {
	done chan struct{}
	err  error
	pid  int // the backend merging it
}

// mergeLanes merges the staged rows on both connections, batch k on
// connection k%2, commits in batch order. It returns the error of the first
// batch that failed; the batches before it are committed, none after it.
func (im *Importer) mergeLanes(ctx context.Context, conn *sqlx.Conn, run *importRun, size int) error {
	conns := [2]*sqlx.Conn{conn, run.lane.conn}
	var pids [2]int
	for i, c := range conns {
		if err := c.GetContext(ctx, &pids[i], `SELECT pg_backend_pid()`); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	n := (run.staged + size - 1) / size
	turns := make([]batchTurn, n)
	for k := range turns {
		turns[k] = batchTurn{done: make(chan struct{}), pid: pids[k%2]}
	}
	var wg sync.WaitGroup
	for l := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := l; k < n; k += 2 {
				var prev *batchTurn
				if k > 0 {
					prev = &turns[k-1]
				}
				lo, hi := k*size, min((k+1)*size, run.staged)
				err := im.mergeBatch(ctx, conns[l], run, lo, hi, prev)
				if err != nil && prev != nil && !errors.Is(err, errPrevFailed) && ctx.Err() == nil {
					// Merged ahead and rolled back (errBehind, or any failure the
					// batch may not meet in turn): again, after the batch before.
					<-prev.done
					err = errPrevFailed
					if prev.err == nil {
						err = im.mergeBatch(ctx, conns[l], run, lo, hi, nil)
					}
				}
				turns[k].err = err
				close(turns[k].done)
				if err != nil {
					for j := k + 2; j < n; j += 2 {
						turns[j].err = errPrevFailed
						close(turns[j].done)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	for k := range turns {
		if err := turns[k].err; err != nil {
			return err
		}
	}
	return nil
}

// inTurn reports whether the batch after prev may commit now: nil when prev
// has committed, errPrevFailed when it failed, and false while it runs.
func inTurn(prev *batchTurn) (bool, error) {
	if prev == nil {
		return true, nil
	}
	select {
	case <-prev.done:
		if prev.err != nil {
			return false, errPrevFailed
		}
		return true, nil
	default:
		return false, nil
	}
}

// waitTurn waits until the batch before (prev) has committed. errBehind
// when its backend is blocked on a lock meanwhile (see the top of this
// file), errPrevFailed when it failed. It asks through the waiting batch's
// own transaction: a pool of two connections has no third.
func waitTurn(ctx context.Context, tx *sqlx.Tx, prev *batchTurn) error {
	t := time.NewTicker(turnPoll)
	defer t.Stop()
	for {
		select {
		case <-prev.done:
			if prev.err != nil {
				return errPrevFailed
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			var blocked bool
			if err := tx.GetContext(ctx, &blocked, qImportBlocked, prev.pid); err != nil {
				return fmt.Errorf("import: look for locks: %w", err)
			}
			if blocked {
				return errBehind
			}
		}
	}
}
