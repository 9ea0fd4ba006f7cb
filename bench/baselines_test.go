package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/testenv"
)

var (
	riverOnce sync.Once
	riverBin  string
)

// riverResult is one River burn-down: jobs worked per second once inserted,
// and the seconds its InsertMany of the n jobs took before.
type riverResult struct {
	JobsPerSecond float64 `json:"jobs_per_second"`
	InsertSeconds float64 `json:"insert_seconds"`
}

// riverBurnDown runs the peer baseline (bench/river, River as a library) on
// an empty database of the same Postgres.
func riverBurnDown(b *testing.B, n int) riverResult {
	b.Helper()
	riverOnce.Do(func() {
		dir, _ := os.MkdirTemp("", "river-burndown-")
		riverBin = filepath.Join(dir, "river-burndown")
		cmd := exec.Command("go", "build", "-o", riverBin, ".")
		cmd.Dir = filepath.Join(root(), "bench", "river")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build bench/river: %v\n%s", err, out)
		}
	})
	cmd := exec.Command(riverBin, "-database-url", testenv.EmptyDBURL(b), "-n", strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("river burn-down: %v", err)
	}
	var res riverResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.JobsPerSecond <= 0 || res.InsertSeconds <= 0 {
		b.Fatalf("river burn-down printed %q: %v", out.String(), err)
	}
	return res
}

// bulkMinimum is what Postgres needs at the least for a blast of n: on a
// database seeded like the blast's, a COPY of one sent message row per run
// and one UPDATE finishing every run, in one transaction. It returns rows
// per second of that work.
func bulkMinimum(b *testing.B, n int) float64 {
	b.Helper()
	d := testenv.Open(b, testenv.DBURL(b), 10)
	def := blastDef("bulk", "vk")
	seed(b, d, def, "vk", n)
	if _, err := d.Exec(createRuns, def.ID); err != nil {
		b.Fatal(err)
	}
	type run struct {
		ID, Sub int64
	}
	var runs []run
	if err := d.Select(&runs, `SELECT id, subscriber_id AS sub FROM flow_runs ORDER BY id`); err != nil {
		b.Fatal(err)
	}
	content := `{"text":"Покупатель, меню следующей недели готово!"}`
	start := time.Now()
	tx, err := d.Beginx()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(pq.CopyIn("messages", "idempotency_key", "subscriber_id", "campaign_id", "campaign_version",
		"run_id", "step_id", "topic", "channel", "address", "status", "provider_id", "content", "sent_at"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, r := range runs {
		id := strconv.FormatInt(r.ID, 10)
		if _, err := stmt.Exec("run:"+id+":menu:0", r.Sub, def.ID, "v1", r.ID, "menu", "marketing", "vk",
			strconv.FormatInt(r.Sub, 10), "sent", id, content, now); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := stmt.Exec(); err != nil {
		b.Fatal(err)
	}
	if err := stmt.Close(); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE flow_runs SET state = 'done', step_id = 'end' WHERE campaign_id = $1`, def.ID); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return float64(len(runs)) / time.Since(start).Seconds()
}

// pgWork is a snapshot of the counters that say what Postgres wrote: the
// cluster's WAL (pg_stat_wal) and the database's tuples and commits
// (pg_stat_database). A benchmark takes one before and one after and divides
// the difference by its messages.
type pgWork struct {
	WALRecords  int64   `db:"wal_records"`
	WALFPI      int64   `db:"wal_fpi"`
	WALBytes    float64 `db:"wal_bytes"`
	Inserted    int64   `db:"tup_inserted"`
	Updated     int64   `db:"tup_updated"`
	Deleted     int64   `db:"tup_deleted"`
	Commits     int64   `db:"xact_commit"`
	HOTUpdated  int64   `db:"n_tup_hot_upd"`
	IndexBlocks int64   `db:"idx_blks"`
}

// readPGWork reads the counters; the database's are flushed by backends at
// most once a second (PostgreSQL 15), so callers wait that long after the
// work before the second snapshot.
func readPGWork(b *testing.B, d *sqlx.DB) pgWork {
	b.Helper()
	var w pgWork
	if _, err := d.Exec(`SELECT pg_stat_clear_snapshot()`); err != nil {
		b.Fatal(err)
	}
	err := d.Get(&w, `
SELECT w.wal_records, w.wal_fpi, w.wal_bytes::float8 AS wal_bytes,
       s.tup_inserted, s.tup_updated, s.tup_deleted, s.xact_commit,
       (SELECT coalesce(sum(n_tup_hot_upd), 0) FROM pg_stat_user_tables) AS n_tup_hot_upd,
       (SELECT coalesce(sum(idx_blks_hit + idx_blks_read), 0) FROM pg_statio_user_tables) AS idx_blks
  FROM pg_stat_wal w, pg_stat_database s WHERE s.datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// perMessage is (after - before) / n for every counter.
func (w pgWork) perMessage(before pgWork, n int) map[string]float64 {
	f := float64(n)
	return map[string]float64{
		"wal_records":          float64(w.WALRecords-before.WALRecords) / f,
		"wal_full_page_images": float64(w.WALFPI-before.WALFPI) / f,
		"wal_bytes":            (w.WALBytes - before.WALBytes) / f,
		"tuples_inserted":      float64(w.Inserted-before.Inserted) / f,
		"tuples_updated":       float64(w.Updated-before.Updated) / f,
		"tuples_deleted":       float64(w.Deleted-before.Deleted) / f,
		"commits":              float64(w.Commits-before.Commits) / f,
		"hot_updates":          float64(w.HOTUpdated-before.HOTUpdated) / f,
		"index_blocks_touched": float64(w.IndexBlocks-before.IndexBlocks) / f,
	}
}

func fmtPer(m map[string]float64, k string) string { return fmt.Sprintf("%.2f", m[k]) }

// claimStats is what pg_stat_user_functions says of nudge_claim_runs, the
// worker's claim of due runs, and pg_stat_user_indexes of the work index
// it reads: entries read against live rows fetched is how many entries of
// runs already finished (or held) a claim walked past.
type claimStats struct {
	Calls   int64   `db:"calls"`
	TotalMS float64 `db:"total_time"`
	Read    int64   `db:"idx_tup_read"`
	Fetched int64   `db:"idx_tup_fetch"`
}

// MeanMS is the mean time of one claim inside Postgres.
func (c claimStats) MeanMS() float64 {
	if c.Calls == 0 {
		return 0
	}
	return c.TotalMS / float64(c.Calls)
}

func (c claimStats) since(before claimStats) claimStats {
	return claimStats{Calls: c.Calls - before.Calls, TotalMS: c.TotalMS - before.TotalMS,
		Read: c.Read - before.Read, Fetched: c.Fetched - before.Fetched}
}

// trackClaims makes the database's new sessions time PL/pgSQL functions
// (track_functions is off by default), so the workers started afterwards
// report their claims in pg_stat_user_functions.
func trackClaims(b *testing.B, d *sqlx.DB) {
	b.Helper()
	var name string
	if err := d.Get(&name, `SELECT current_database()`); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Exec(`ALTER DATABASE ` + pq.QuoteIdentifier(name) + ` SET track_functions = 'pl'`); err != nil {
		b.Fatal(err)
	}
}

func readClaims(b *testing.B, d *sqlx.DB) claimStats {
	b.Helper()
	var c claimStats
	if _, err := d.Exec(`SELECT pg_stat_clear_snapshot()`); err != nil {
		b.Fatal(err)
	}
	if err := d.Get(&c, `SELECT coalesce(sum(calls), 0) AS calls, coalesce(sum(total_time), 0) AS total_time,
       (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE indexrelname = 'flow_runs_work_slot') AS idx_tup_read,
       (SELECT coalesce(sum(idx_tup_fetch), 0) FROM pg_stat_user_indexes WHERE indexrelname = 'flow_runs_work_slot') AS idx_tup_fetch
  FROM pg_stat_user_functions WHERE funcname = 'nudge_claim_runs'`); err != nil {
		b.Fatal(err)
	}
	return c
}

// walRange is a stretch of WAL and the database whose relations the
// benchmark wrote in it.
type walRange struct {
	DatabaseOID int64  `db:"oid"`
	Start       string `db:"lsn"`
	End         string
}

func readWALRange(b *testing.B, d *sqlx.DB) walRange {
	b.Helper()
	var w walRange
	if err := d.Get(&w, `SELECT d.oid, pg_current_wal_insert_lsn()::text AS lsn FROM pg_database d WHERE d.datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	return w
}

func (w walRange) until(end walRange) walRange { w.End = end.Start; return w }

// String is the pg_waldump invocation that lists the range.
func (w walRange) String() string {
	return fmt.Sprintf("pg_waldump -s %s -e %s, database %d", w.Start, w.End, w.DatabaseOID)
}
