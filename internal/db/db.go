// Package db holds the Postgres plumbing every store shares: opening a pool,
// the executor type that is either the pool or a transaction, and WithTx.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // also the postgres driver
)

// ErrNoSchema means a query found a table missing: the database has not
// been migrated.
var ErrNoSchema = errors.New("the database has no Nudge schema yet: run `nudge migrate up`")

// Explain turns Postgres errors a user can act on into ones that say what
// to do: undefined_table (42P01, `relation "campaigns" does not exist`)
// becomes ErrNoSchema, still wrapping the original. Other errors are
// returned as they are.
func Explain(err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "42P01" && !errors.Is(err, ErrNoSchema) {
		return fmt.Errorf("%w (%w)", ErrNoSchema, err)
	}
	return err
}

// Executor is what store methods take so that callers can run them on the
// pool or inside a transaction (a consent change and its audit row commit together).
type Executor interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

var (
	_ Executor = (*sqlx.DB)(nil)
	_ Executor = (*sqlx.Tx)(nil)
)

// Open connects to url and checks the connection within ctx.
func Open(ctx context.Context, url string) (*sqlx.DB, error) {
	d, err := sqlx.Open(DriverName, url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	SetPool(d, DefaultMaxConns)
	d.SetConnMaxIdleTime(5 * time.Minute)
	if err := d.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return d, nil
}

// DefaultMaxConns is the pool size of Open (NUDGE_DB_MAX_CONNS). A worker's
// claim holds a connection for its transaction and the sandbox channel takes
// another to record its sends; webhooks need their own headroom.
const DefaultMaxConns = 50

// SetPool sizes d's pool: as many idle connections as open ones, since a pool
// that closes connections above its idle limit reconnects (a new backend,
// milliseconds) on every burst.
func SetPool(d *sqlx.DB, n int) {
	d.SetMaxOpenConns(n)
	d.SetMaxIdleConns(n)
}

// WithTx runs fn in a transaction, committing when fn returns nil.
func WithTx(ctx context.Context, d *sqlx.DB, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := d.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsNoRows reports whether err means a query found nothing.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// Get scans the one row query returns into dest, as GetContext does; it
// returns notFound when there is no row, and other errors wrapped as
// "what: err".
func Get(ctx context.Context, q Executor, dest any, notFound error, what, query string, args ...any) error {
	err := q.GetContext(ctx, dest, query, args...)
	if IsNoRows(err) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Exec runs stmt and returns how many rows it changed, errors wrapped as
// "what: err": for the statements whose callers branch on "none changed"
// (not found, lease lapsed, sent before).
func Exec(ctx context.Context, q Executor, what, stmt string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, stmt, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return n, nil
}

// Select returns the rows query returns as Ts, as SelectContext scans them:
// an empty, non-nil slice when there are none (a JSON [] rather than
// null), errors wrapped as "what: err".
func Select[T any](ctx context.Context, q Executor, what, query string, args ...any) ([]T, error) {
	out := []T{}
	if err := q.SelectContext(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
