package db_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// PurgeBatch clears at most limit of the older rows per call, says how many,
// and refuses a batch size that is not positive before touching anything.
func TestPurgeBatch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	d, ctx := testenv.DB(t), t.Context()
	d.MustExec(`CREATE TABLE purge_test (id int PRIMARY KEY, at timestamptz NOT NULL, body text NOT NULL)`)
	d.MustExec(`INSERT INTO purge_test VALUES (1, $1, 'a'), (2, $1, 'b'), (3, $1, 'c'), (4, $2, 'd')`, now.Add(-2*time.Hour), now)
	const stmt = `UPDATE purge_test SET body = '' WHERE id IN (
		SELECT id FROM purge_test WHERE at < $1 AND body <> '' ORDER BY id LIMIT $2)`
	if _, err := db.PurgeBatch(ctx, d, "test rows", stmt, now.Add(-time.Hour), 0); err == nil || !strings.Contains(err.Error(), "purge test rows: batch size 0") {
		t.Fatalf("limit 0: %v", err)
	}
	for _, want := range []int64{2, 1, 0} {
		n, err := db.PurgeBatch(ctx, d, "test rows", stmt, now.Add(-time.Hour), 2)
		if err != nil || n != want {
			t.Fatalf("purged %d (%v), want %d", n, err, want)
		}
	}
	var kept string
	if err := d.Get(&kept, `SELECT string_agg(body, '' ORDER BY id) FROM purge_test`); err != nil || kept != "d" {
		t.Fatalf("left %q (%v), want only the newer row's body", kept, err)
	}
	if _, err := db.PurgeBatch(ctx, d, "test rows", `UPDATE no_such_table SET x = 1 WHERE $1::timestamptz IS NULL AND $2::int = 0`, now, 2); err == nil || !strings.HasPrefix(err.Error(), "purge test rows: ") {
		t.Fatalf("bad statement: %v", err)
	}
}
