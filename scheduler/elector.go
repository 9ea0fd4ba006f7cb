package scheduler

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// DefaultLockKey is the advisory lock key scheduler leaders hold
// (the bytes of "nudge-sc"). Advisory locks are per database, so two
// installations on one server do not contend.
const DefaultLockKey int64 = 0x6e756467652d7363

// elector holds leadership as a session advisory lock on one dedicated
// connection. When the leader's process dies its connection drops, Postgres
// releases the lock, and a follower's next try takes it.
type elector struct {
	db   *sql.DB
	key  int64
	log  *slog.Logger
	conn *sql.Conn
}

// try returns whether this instance leads now, taking the lock if free and
// checking that a held lock's connection is still alive.
func (e *elector) try(ctx context.Context) (bool, error) {
	if e.conn != nil {
		var one int
		if err := e.conn.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			e.log.Warn("scheduler lost leadership: lock connection failed", "err", err)
			e.drop()
			return false, nil
		}
		return true, nil
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("leader connection: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, e.key).Scan(&got); err != nil {
		_ = conn.Raw(func(any) error { return errBadConn })
		conn.Close()
		return false, fmt.Errorf("try advisory lock: %w", err)
	}
	if !got {
		conn.Close()
		return false, nil
	}
	e.conn = conn
	e.log.Info("scheduler is the leader", "lock_key", e.key)
	return true, nil
}

// drop forgets the lock connection without trusting it (it may be dead);
// the connection is discarded rather than returned to the pool, so a lock
// it might still hold is released when Postgres sees it close.
func (e *elector) drop() {
	if e.conn == nil {
		return
	}
	_ = e.conn.Raw(func(any) error { return errBadConn })
	e.conn.Close()
	e.conn = nil
}

// release unlocks and returns the connection (graceful shutdown).
func (e *elector) release(ctx context.Context) {
	if e.conn == nil {
		return
	}
	if _, err := e.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, e.key); err != nil {
		e.drop()
		return
	}
	e.conn.Close()
	e.conn = nil
	e.log.Info("scheduler released leadership")
}
