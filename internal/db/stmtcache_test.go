package db_test

import (
	"context"
	"testing"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// A statement with parameters is prepared once per connection and reused;
// one whose table changed shape is prepared again instead of failing forever.
func TestStatementCache(t *testing.T) {
	d := testenv.DB(t)
	db.SetPool(d, 1) // one connection: every call sees the same cache
	ctx := context.Background()
	if _, err := d.ExecContext(ctx, `CREATE TABLE sc (id int PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := d.ExecContext(ctx, `INSERT INTO sc (id, v) VALUES ($1, $2)`, i, "x"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := d.GetContext(ctx, &v, `SELECT v FROM sc WHERE id = $1`, i); err != nil || v != "x" {
			t.Fatalf("select %d: %q, %v", i, v, err)
		}
	}
	var prepared int
	if err := d.GetContext(ctx, &prepared, `SELECT count(*) FROM pg_prepared_statements`); err != nil {
		t.Fatal(err)
	}
	if prepared != 2 {
		t.Fatalf("prepared statements on the connection = %d, want 2 (insert, select)", prepared)
	}
	const all = `SELECT * FROM sc WHERE id = $1`
	var row struct {
		ID int    `db:"id"`
		V  string `db:"v"`
	}
	if err := d.GetContext(ctx, &row, all, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `ALTER TABLE sc ADD COLUMN w int`); err != nil {
		t.Fatal(err)
	}
	var row2 struct {
		ID int    `db:"id"`
		V  string `db:"v"`
		W  *int   `db:"w"`
	}
	err := d.GetContext(ctx, &row2, all, 1) // the cached plan's row type changed: one failure at most
	if err != nil {
		if err = d.GetContext(ctx, &row2, all, 1); err != nil {
			t.Fatalf("after the table changed: %v", err)
		}
	}
	if row2.V != "x" {
		t.Fatalf("row after ALTER = %+v", row2)
	}
}

// A statement marked Unprepared is not prepared: it is planned for its
// parameters every time.
func TestStatementCacheUnprepared(t *testing.T) {
	d := testenv.DB(t)
	db.SetPool(d, 1)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		var n int
		if err := d.GetContext(ctx, &n, db.Unprepared+`SELECT count(*) FROM pg_class WHERE relpages > $1`, i); err != nil {
			t.Fatal(err)
		}
	}
	var prepared int
	if err := d.GetContext(ctx, &prepared, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%relpages%'`); err != nil {
		t.Fatal(err)
	}
	if prepared != 0 {
		t.Fatalf("unprepared statement was prepared %d times", prepared)
	}
}

// Statements counts what a connection sends: queries and execs, BEGIN,
// COMMIT and ROLLBACK, a COPY once whatever its rows; not the preparing of
// cached statements.
func TestStatementsCounted(t *testing.T) {
	d := testenv.DB(t)
	db.SetPool(d, 1)
	ctx := context.Background()
	if _, err := d.ExecContext(ctx, `CREATE TABLE counted (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	before := db.Statements()
	// 1: prepared for the cache on its first run, counted once.
	if _, err := d.ExecContext(ctx, `INSERT INTO counted (id) VALUES ($1)`, 1); err != nil {
		t.Fatal(err)
	}
	// 2: no parameters, lib/pq's simple protocol.
	var n int
	if err := d.GetContext(ctx, &n, `SELECT count(*) FROM counted`); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	// 3, 4, 5: BEGIN, the insert, COMMIT.
	tx := d.MustBeginTx(ctx, nil)
	if _, err := tx.ExecContext(ctx, `INSERT INTO counted (id) VALUES ($1)`, 2); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// 6, 7, 8: BEGIN, the COPY whatever its rows, ROLLBACK.
	tx = d.MustBeginTx(ctx, nil)
	st, err := tx.PrepareContext(ctx, pq.CopyIn("counted", "id"))
	if err != nil {
		t.Fatal(err)
	}
	for id := 10; id < 15; id++ {
		if _, err := st.ExecContext(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := db.Statements() - before; got != 8 {
		t.Fatalf("statements counted = %d, want 8", got)
	}
}
