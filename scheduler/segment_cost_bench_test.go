package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/subscribers"
)

// rollupTriggers are the triggers of migration 00028 that keep the segment
// rollups, by table: rollupWriteCost turns them off for its "before" runs.
var rollupTriggers = map[string][]string{
	"subscriber_events":  {"subscriber_rollup_events_insert"},
	"channel_identities": {"subscriber_rollup_identities_insert", "subscriber_rollup_identities_delete", "subscriber_rollup_identity_update"},
	"consent_events":     {"consent_rollup_apply"},
}

func setRollupTriggers(b *testing.B, f fixture, on bool) {
	verb := "DISABLE"
	if on {
		verb = "ENABLE"
	}
	for table, names := range rollupTriggers {
		for _, n := range names {
			f.db.MustExec(`ALTER TABLE ` + table + ` ` + verb + ` TRIGGER ` + n)
		}
	}
}

// rollupWriteCost measures what keeping the rollups adds to writes, on the
// benchmark's seeded database, each write timed without the rollup triggers
// and with them, alternately, twice (the best of each): 100,000 events in one
// statement (an events batch), 500 events one statement each (the events
// API), and an import of 100,000 new subscribers with a phone (sms and
// whatsapp identities), a Telegram id and marketing consent. It leaves the
// rollups stale for the rows of the runs without triggers: run it last.
func rollupWriteCost(b *testing.B, f fixture, now time.Time) map[string]float64 {
	ctx := context.Background()
	best := map[string]float64{}
	keep := func(key string, d time.Duration) {
		if s := d.Seconds() * 1000; best[key] == 0 || s < best[key] {
			best[key] = s
		}
	}
	// The 500 single events go to subscribers spread over the whole seeded
	// range, whatever its size (a fixed stride of 1,000 ran past the last
	// subscriber below 500,000 of them).
	var first, last int64
	if err := f.db.QueryRow(`SELECT min(id), max(id) FROM subscribers`).Scan(&first, &last); err != nil {
		b.Fatal(err)
	}
	stride := max((last-first+1)/500, 1)
	run := 0
	for round := 0; round < 2; round++ {
		for _, on := range []bool{false, true} {
			run++
			setRollupTriggers(b, f, on)
			suffix := "_before"
			if on {
				suffix = "_after"
			}
			name := fmt.Sprintf("bench.run%d", run)
			start := time.Now()
			f.db.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload)
				SELECT id, $1, $2, '{"box": "family"}' FROM subscribers WHERE id < $3`, name, now, first+100_000)
			keep("events_batch_100k_ms"+suffix, time.Since(start))
			start = time.Now()
			for i := int64(0); i < 500; i++ {
				f.db.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload) VALUES ($1, $2, $3, '{"box": "solo"}')`,
					first+(i*stride)%(last-first+1), name, now)
			}
			keep("events_single_500_ms"+suffix, time.Since(start))

			var csv strings.Builder
			csv.WriteString("external_id,name,phone,telegram,consent_marketing,consent_proof\n")
			for i := 0; i < 100_000; i++ {
				fmt.Fprintf(&csv, "imp%d-%d,Покупатель %d,+7%03d%07d,%d,true,checkout form v3\n", run, i, i, 900+run, i, 10_000_000*run+i)
			}
			start = time.Now()
			rep, err := subscribers.NewImporter(f.db, nil).Import(ctx, strings.NewReader(csv.String()), subscribers.ImportOptions{KeepErrors: 3, BatchSize: 10_000})
			if err != nil || rep.Imported != 100_000 {
				b.Fatalf("import: %v %+v", err, rep)
			}
			keep("import_100k_ms"+suffix, time.Since(start))
		}
	}
	setRollupTriggers(b, f, true)
	for _, k := range []string{"events_batch_100k_ms", "events_single_500_ms", "import_100k_ms"} {
		best[strings.TrimSuffix(k, "_ms")+"_ratio"] = best[k+"_after"] / best[k+"_before"]
	}
	return best
}
