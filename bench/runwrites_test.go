package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// BenchmarkRunWrites measures what a one-message run costs Postgres in the
// two shapes issue 19 item 2 weighs, on the migrated schema, so that a
// schema change moves both figures: "now", the engine's shape (the audience
// made into active runs up front with createRuns, then per claim of
// runWriteBatch the runs locked FOR NO KEY UPDATE and moved to done), and
// "once" (each run inserted after its send, already done, one statement per
// claim). It reports the WAL of flow_runs and its indexes per run, from
// pg_waldump, and the ratio once / now. The message rows are the same in
// both shapes and left out. The engine does not write "once" today: see
// docs/performance.md, "What halving the WAL needs".
func BenchmarkRunWrites(b *testing.B) {
	if b.N > 1 {
		b.Skip("measured once")
	}
	n := testenv.EnvInt("BENCH_RUNWRITES_N", 100_000)
	type shape struct {
		WALBytes, WALRecords, RunsPerSecond float64
		Breakdown                           []walKind
	}
	measure := func(name string, write func(d *sqlx.DB, campaign string, subs []int64)) shape {
		d := testenv.Open(b, testenv.DBURL(b), 4)
		def := blastDef("runs_"+name, "vk")
		seed(b, d, def, "vk", n)
		var subs []int64
		if err := d.Select(&subs, `SELECT id FROM subscribers ORDER BY id`); err != nil {
			b.Fatal(err)
		}
		release := reserveWAL(b, d)
		defer release()
		from := readWALRange(b, d)
		start := time.Now()
		write(d, def.ID, subs)
		elapsed := time.Since(start)
		var list []walKind
		for _, k := range walBreakdown(b, d, from.until(readWALRange(b, d)), n) {
			if strings.Contains(k.Kind, " flow_runs") {
				list = append(list, k)
			}
		}
		recs, bytes := walTotals(list)
		fmt.Printf("runs written %s: %.0f runs/s\n", name, float64(n)/elapsed.Seconds())
		printWAL(list, "flow_runs and its indexes", "run")
		return shape{WALBytes: bytes, WALRecords: recs, RunsPerSecond: float64(n) / elapsed.Seconds(), Breakdown: list}
	}
	now := measure("now", func(d *sqlx.DB, campaign string, _ []int64) {
		if _, err := d.Exec(createRuns, campaign); err != nil {
			b.Fatal(err)
		}
		var ids []int64
		if err := d.Select(&ids, `SELECT id FROM flow_runs WHERE campaign_id = $1 ORDER BY id`, campaign); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(ids); i += runWriteBatch {
			batch := pq.Array(ids[i:min(i+runWriteBatch, len(ids))])
			if err := db.WithTx(context.Background(), d, func(tx *sqlx.Tx) error {
				if _, err := tx.Exec(`SELECT id FROM flow_runs WHERE id = ANY($1) AND state = 'active' FOR NO KEY UPDATE`, batch); err != nil {
					return err
				}
				_, err := tx.Exec(`UPDATE flow_runs SET state = 'done', step_id = 'end', step_seq = step_seq + 1, next_at = NULL,
				                          updated_at = now(), ended_at = now() WHERE id = ANY($1)`, batch)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	once := measure("once", func(d *sqlx.DB, campaign string, subs []int64) {
		for i := 0; i < len(subs); i += runWriteBatch {
			batch := pq.Array(subs[i:min(i+runWriteBatch, len(subs))])
			// One statement: atomic on its own, as the claim's insert would be in its transaction.
			if _, err := d.Exec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq, ended_at)
			                   SELECT $1, 'v1', s, 'blast', 'done', 'end', 1, now() FROM unnest($2::bigint[]) s`, campaign, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
	if now.WALBytes == 0 {
		b.Skip("no WAL breakdown on this server (pg_waldump unavailable)")
	}
	ratio := once.WALBytes / now.WALBytes
	b.ReportMetric(now.WALBytes, "B/run-now")
	b.ReportMetric(once.WALBytes, "B/run-once")
	b.ReportMetric(ratio, "once/now")
	table([2]string{"runs", fmt.Sprint(n)},
		[2]string{"WAL per run, as now", fmt.Sprintf("%.0f B, %.2f rec", now.WALBytes, now.WALRecords)},
		[2]string{"WAL per run, written once", fmt.Sprintf("%.0f B, %.2f rec", once.WALBytes, once.WALRecords)},
		[2]string{"once / now", fmt.Sprintf("%.2f", ratio)},
		[2]string{"runs/s, now / once", fmt.Sprintf("%.0f / %.0f", now.RunsPerSecond, once.RunsPerSecond)})
	writeResult(b, "runwrites", map[string]any{"runs": n, "batch": runWriteBatch, "now": now, "once": once,
		"wal_ratio_once_to_now": ratio})
}

// runWriteBatch is the worker's default claim (NUDGE_WORKER_BATCH).
const runWriteBatch = 500
