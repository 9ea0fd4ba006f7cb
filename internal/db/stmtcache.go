package db

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DriverName is lib/pq with a cache of prepared statements per connection.
//
// lib/pq runs a query with parameters as an unnamed statement: Parse and
// Describe, wait, then Bind and Execute, wait — two round trips, and the
// server parses and plans the text every time. The engine runs a few dozen
// fixed statements at high rates (a claim, a message insert, a reply), so
// this driver prepares each statement text once per connection and executes
// it with one round trip afterwards. Statements without parameters keep
// lib/pq's simple protocol (one round trip already), statements that start
// with Unprepared keep lib/pq's unnamed path, and the cache is an LRU of
// stmtCacheSize texts, so generated SQL (audience filters) cannot grow it
// without bound.
const DriverName = "nudge-postgres"

// stmtCacheSize is the number of prepared statements a connection keeps.
const stmtCacheSize = 256

// statements counts the statements this process sent (Statements).
var statements atomic.Int64

// Statements is how many SQL statements this process has sent through
// DriverName: each query and exec, each BEGIN, COMMIT and ROLLBACK, and each
// COPY (its rows are data, not statements; COPY is the only statement the
// engine prepares by hand). Preparing a statement for the cache is not
// counted: it is part of the statement's first run. /metrics exports it as
// nudge_db_statements_total, and the blast benchmark divides it by claims.
func Statements() int64 { return statements.Load() }

func init() {
	sql.Register(DriverName, cachingDriver{})
	sqlx.BindDriver(DriverName, sqlx.DOLLAR)
}

type cachingDriver struct{}

// Unprepared marks a statement the cache must not prepare: lib/pq runs it
// as an unnamed statement, planned for its parameters every time. A cached
// statement may get a generic plan after five runs, which is right for the
// point lookups and writes of the hot paths and wrong for a range over a
// parameter ("next_at <= $1" selects ten rows of a million, or all of them):
// a generic plan chose a sequential scan of flow_runs for the dispatcher's
// due-run check. Put it at the start of such statements.
const Unprepared = "/* unprepared */ "

func (cachingDriver) Open(name string) (driver.Conn, error) {
	c, err := pq.Driver{}.Open(name)
	if err != nil {
		return nil, err
	}
	return &cachedConn{Conn: c, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

// cachedConn is used by one goroutine at a time (database/sql's contract).
type cachedConn struct {
	driver.Conn
	stmts map[string]*list.Element
	lru   *list.List // of *cachedStmt, most recently used first
}

type cachedStmt struct {
	query string
	st    driver.Stmt
}

var errNoContext = errors.New("db: lib/pq connection lacks a context method")

func (c *cachedConn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).st, nil
	}
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = c.lru.PushFront(&cachedStmt{query: query, st: st})
	if c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.stmts, old.query)
		_ = old.st.Close()
	}
	return st, nil
}

// QueryContext implements driver.QueryerContext.
func (c *cachedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	statements.Add(1)
	return send(ctx, c, query, args,
		func(q driver.QueryerContext) (driver.Rows, error) { return q.QueryContext(ctx, query, args) },
		func(q driver.StmtQueryContext) (driver.Rows, error) { return q.QueryContext(ctx, args) })
}

// ExecContext implements driver.ExecerContext.
func (c *cachedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	statements.Add(1)
	return send(ctx, c, query, args,
		func(x driver.ExecerContext) (driver.Result, error) { return x.ExecContext(ctx, query, args) },
		func(x driver.StmtExecContext) (driver.Result, error) { return x.ExecContext(ctx, args) })
}

// send runs query on c the one way a query or an exec goes: through the
// connection itself (direct, with C its context method) when it has no
// parameters or is Unprepared, else through its cached statement (prepared,
// with S the statement's context method), forgetting the statement when the
// server no longer accepts it.
func send[C, S, R any](ctx context.Context, c *cachedConn, query string, args []driver.NamedValue, direct func(C) (R, error), prepared func(S) (R, error)) (R, error) {
	var none R
	if len(args) == 0 || strings.HasPrefix(query, Unprepared) {
		x, ok := c.Conn.(C)
		if !ok {
			return none, errNoContext
		}
		return direct(x)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return none, err
	}
	x, ok := st.(S)
	if !ok {
		return none, errNoContext
	}
	r, err := prepared(x)
	c.forgetIfStale(query, err)
	return r, err
}

// forgetIfStale drops a statement the server no longer accepts: its table
// changed shape under it (a migration), or the server lost it.
func (c *cachedConn) forgetIfStale(query string, err error) {
	var pe *pq.Error
	if !errors.As(err, &pe) || (pe.Code != "0A000" && pe.Code != "26000") {
		return
	}
	if e, ok := c.stmts[query]; ok {
		c.lru.Remove(e)
		delete(c.stmts, query)
		_ = e.Value.(*cachedStmt).st.Close()
	}
}

// PrepareContext implements driver.ConnPrepareContext (COPY goes through
// here: lib/pq sends the COPY when it prepares it).
func (c *cachedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	statements.Add(1)
	return c.prepare(ctx, query)
}

func (c *cachedConn) prepare(ctx context.Context, query string) (driver.Stmt, error) {
	p, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, errNoContext
	}
	return p.PrepareContext(ctx, query)
}

// BeginTx implements driver.ConnBeginTx.
func (c *cachedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := c.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errNoContext
	}
	statements.Add(1)
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return countedTx{tx}, nil
}

// countedTx counts its COMMIT or ROLLBACK.
type countedTx struct{ driver.Tx }

func (t countedTx) Commit() error   { statements.Add(1); return t.Tx.Commit() }
func (t countedTx) Rollback() error { statements.Add(1); return t.Tx.Rollback() }

// Ping implements driver.Pinger.
func (c *cachedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ResetSession implements driver.SessionResetter.
func (c *cachedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *cachedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue implements driver.NamedValueChecker.
func (c *cachedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.Conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
