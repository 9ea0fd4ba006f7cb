package subscribers_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/subscribers"
)

// The second connection merges batch 2 (new subscribers only) while batch 1
// waits for a lock of another writer W, and then waits, in Go, for batch 1
// to commit. W then inserts an external id batch 2 holds uncommitted, and
// waits for batch 2: a cycle Postgres cannot see. The importer must roll
// batch 2 back (batch 1's backend is blocked) and merge it after batch 1,
// where its row has become an update of W's subscriber. Without that the
// import hangs until its deadline.
func TestImportMergedAheadYieldsToALockCycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if rep := importFile(t, b, subscribers.CSV, []byte("external_id,name\nold-1,Олег\n"), 0); rep.Imported != 1 {
		t.Fatalf("seed: %s", rep.Summary())
	}
	ctx := context.Background()
	w, err := b.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback() //nolint:errcheck // a no-op after Commit
	var wPID int
	w.MustExec(`UPDATE subscribers SET name = 'W' WHERE external_id = 'old-1'`)
	if err := w.Get(&wPID, `SELECT pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	file := "external_id,name,phone\n" +
		"old-1,Олег Петрович,\nn-1,A,+79990000301\n" + // batch 1: an update, waits for W
		"n-2,B,+79990000302\nn-3,C,+79990000303\n" // batch 2: new only, merged ahead
	type result struct {
		rep subscribers.Report
		err error
	}
	done := make(chan result, 1)
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		rep, err := subscribers.NewImporter(b.db, b.clock.Now).Import(ictx, bytes.NewReader([]byte(file)), subscribers.ImportOptions{BatchSize: 2})
		done <- result{rep, err}
	}()
	// Batch 1 waits for W; batch 2 has inserted its rows and waits for
	// batch 1 (idle in its transaction after counting) unless it has
	// already yielded.
	if !waitFor(t, b.db, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid)))`, wPID, 10*time.Second) {
		t.Fatal("batch 1 never waited for W")
	}
	waitFor(t, b.db, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
		AND state = 'idle in transaction' AND query LIKE '%FILTER (WHERE created)%' AND pid <> $1)`, wPID, 2*time.Second)
	w.MustExec(`INSERT INTO subscribers (external_id, name, created_at, updated_at) VALUES ('n-2', 'W', now(), now())`)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("import: %v (%s)", r.err, r.rep.Summary())
	}
	if r.rep.Imported != 2 || r.rep.Updated != 2 || r.rep.WrittenThrough != 5 {
		t.Fatalf("%s, written through %d", r.rep.Summary(), r.rep.WrittenThrough)
	}
	var names []string
	if err := b.db.Select(&names, `SELECT external_id || '=' || name FROM subscribers ORDER BY external_id`); err != nil {
		t.Fatal(err)
	}
	if want := "[n-1=A n-2=B n-3=C old-1=Олег Петрович]"; fmt.Sprint(names) != want {
		t.Fatalf("store holds %v, want %s", names, want)
	}
}

// waitFor polls query (with arg) until it returns true or limit passes,
// and says which.
func waitFor(t *testing.T, d *sqlx.DB, query string, arg any, limit time.Duration) bool {
	t.Helper()
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		var ok bool
		if err := d.Get(&ok, query, arg); err != nil {
			t.Fatal(err)
		}
		if ok {
			return true
		}
	}
	return false
}

// A pool of two connections holds the import's two sessions and nothing
// else: a batch merged ahead must ask whether the batch before is blocked
// through its own transaction, or it waits for a third connection forever.
// The first batch is slowed down so that the second one waits and asks.
func TestImportOnAPoolOfTwo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.db.MustExec(`CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.external_id = 'slow' THEN PERFORM pg_sleep(0.3); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_insert BEFORE INSERT ON subscribers FOR EACH ROW EXECUTE FUNCTION slow_insert()`)
	b.db.SetMaxOpenConns(2)
	file := "external_id,phone\nslow,+79990000401\nn-2,+79990000402\nn-3,+79990000403\nn-4,+79990000404\nn-5,+79990000405\n"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := subscribers.NewImporter(b.db, b.clock.Now).Import(ctx, bytes.NewReader([]byte(file)), subscribers.ImportOptions{BatchSize: 2})
	if err != nil || rep.Imported != 5 || rep.WrittenThrough != 6 {
		t.Fatalf("%s, written through %d: %v", rep.Summary(), rep.WrittenThrough, err)
	}
}
