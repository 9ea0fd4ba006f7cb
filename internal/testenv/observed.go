package testenv

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ObservedDB is a second pool on the database of dsn (a URL from DBURL) that
// calls before with each statement's text ("BEGIN", "COMMIT" and "ROLLBACK"
// for a transaction's) before sending it to Postgres. Tests count round
// trips with it, or act between two statements of the code under test (a
// concurrent commit at the worst moment) without a mock.
func ObservedDB(t testing.TB, dsn string, before func(stmt string)) *sqlx.DB {
	t.Helper()
	pc, err := pq.NewConnector(dsn)
	if err != nil {
		t.Fatal(err)
	}
	d := sqlx.NewDb(sql.OpenDB(observedConnector{Connector: pc, before: before}), "postgres")
	t.Cleanup(func() { d.Close() })
	return d
}

type observedConnector struct {
	driver.Connector
	before func(string)
}

func (c observedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &observedConn{Conn: cn, before: c.before}, nil
}

// observedConn forwards to lib/pq's connection; it implements the optional
// interfaces lib/pq does so database/sql takes the same paths.
type observedConn struct {
	driver.Conn
	before func(string)
}

func (c *observedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.before(q)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *observedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.before(q)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *observedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.before("BEGIN")
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return observedTx{tx, c.before}, nil
}

func (c *observedConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

func (c *observedConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *observedConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

type observedTx struct {
	driver.Tx
	before func(string)
}

func (t observedTx) Commit() error   { t.before("COMMIT"); return t.Tx.Commit() }
func (t observedTx) Rollback() error { t.before("ROLLBACK"); return t.Tx.Rollback() }
