package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

// merge writes the staged rows in batches of opt.BatchSize, one transaction
// each; at most consent.MaxImportSubscribers when the file carries consent,
// whose writer locks every subscriber of a batch until it commits.
func (im *Importer) merge(ctx context.Context, conn *sqlx.Conn, run *importRun) error {
	size := run.opt.BatchSize
	var withConsent bool
	if err := conn.GetContext(ctx, &withConsent, qImportHasConsent); err != nil {
		return fmt.Errorf("import: look for consent rows: %w", err)
	}
	if withConsent {
		size = min(size, consent.MaxImportSubscribers)
	}
	if run.lane != nil && !withConsent {
		return im.mergeLanes(ctx, conn, run, size)
	}
	for lo := 0; lo < run.staged; lo += size {
		hi := min(lo+size, run.staged)
		if err := im.mergeBatch(ctx, conn, run, lo, hi, nil); err != nil {
			return err
		}
	}
	return nil
}

// mergeBatch merges the rows lo ≤ ord < hi in one transaction. With prev
// (the batch before, on the other connection) still running, the batch is
// merged ahead: only if it creates subscribers only, committing after prev
// (errBehind otherwise, see importlanes.go).
func (im *Importer) mergeBatch(ctx context.Context, conn *sqlx.Conn, run *importRun, lo, hi int, prev *batchTurn) (err error) {
	ready, err := inTurn(prev)
	if err != nil {
		return err
	}
	ahead := !ready
	now := im.now()
	var (
		counts struct {
			Created   int `db:"created"`
			Updated   int `db:"updated"`
			Unchanged int `db:"unchanged"`
			LastLine  int `db:"last_line"`
		}
		conflicts []importConflict
	)
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, qImportWorkMem); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	// existing: some row of the batch is (or became) an existing subscriber.
	// A batch of new rows only, the bulk of a first import, skips the
	// statements that check, update and extend existing subscribers: each
	// unnests the whole batch to find nothing.
	existing := false
	for _, st := range []struct{ what, q string }{
		{"resolve keyed rows", qImportResolveKeyed},
		{"resolve rows by identity", qImportResolveKeyless},
	} {
		res, err := tx.ExecContext(ctx, st.q, lo, hi)
		if err != nil {
			return fmt.Errorf("import: %s: %w", st.what, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			existing = true
		}
	}
	if existing && ahead {
		return errBehind
	}
	if existing {
		if err := tx.SelectContext(ctx, &conflicts, qImportRejectConflicts, lo, hi, false); err != nil {
			return fmt.Errorf("import: check identities: %w", err)
		}
	}
	res, err := tx.ExecContext(ctx, qImportAssignIDs, lo, hi)
	if err != nil {
		return fmt.Errorf("import: assign ids: %w", err)
	}
	assigned, _ := res.RowsAffected()
	fallback, err := insertNew(ctx, tx, lo, hi, now, assigned, &conflicts, !ahead)
	if err != nil {
		return err
	}
	if existing || fallback { // the fallback may turn new rows into updates (qImportLostRaces)
		if err := execAll(ctx, tx, lo, hi, now,
			"update subscribers", qImportUpdateSubscribers,
			"insert identities", qImportInsertIdentities); err != nil {
			return err
		}
	}
	if err := importConsent(ctx, tx, lo, hi); err != nil {
		return err
	}
	if err := tx.GetContext(ctx, &counts, qImportCounts, lo, hi); err != nil {
		return fmt.Errorf("import: count: %w", err)
	}
	if ahead {
		if err := waitTurn(ctx, tx, prev); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	run.rep.Imported += counts.Created
	run.rep.Updated += counts.Updated
	run.rep.Unchanged += counts.Unchanged
	run.rep.WrittenThrough = counts.LastLine
	seen := map[int]bool{}
	for _, c := range conflicts {
		if seen[c.Line] {
			continue
		}
		seen[c.Line] = true
		run.reject(RowError{Line: c.Line, Field: columnOf(channels.Kind(c.Channel)), Reason: "this address is already bound to another subscriber"})
	}
	return nil
}

// importConflict is a row rejected because one of its addresses is bound to
// another subscriber.
type importConflict struct {
	Line    int    `db:"line"`
	Channel string `db:"channel"`
}

// insertNew writes the batch's new subscribers (assigned of them) and their
// identities: plain inserts first. A unique violation means that one of
// their addresses is bound to another subscriber, or that a concurrent
// writer took one of their external ids since the batch was resolved; the
// batch's new rows are then checked for bound addresses (appended to
// conflicts) and written by the conflict-tolerant statements, which turn a
// lost external id into an update; fallback says they ran. A batch merged
// ahead (!tolerant) returns errBehind instead: the fallback may update
// existing subscribers.
func insertNew(ctx context.Context, tx *sqlx.Tx, lo, hi int, now time.Time, assigned int64, conflicts *[]importConflict, tolerant bool) (fallback bool, err error) {
	if assigned == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, qImportSavepoint); err != nil {
		return false, fmt.Errorf("import: %w", err)
	}
	err = execAll(ctx, tx, lo, hi, now,
		"insert subscribers", qImportInsertNewSubscribers,
		"insert identities", qImportInsertNewIdentities)
	var pqErr *pq.Error
	if err == nil {
		if _, err := tx.ExecContext(ctx, qImportReleaseSavepoint); err != nil {
			return false, fmt.Errorf("import: %w", err)
		}
		return false, nil
	} else if !errors.As(err, &pqErr) || pqErr.Code != "23505" { // unique_violation
		return false, err
	} else if !tolerant {
		return false, errBehind
	}
	if _, err := tx.ExecContext(ctx, qImportRollbackSavepoint); err != nil {
		return false, fmt.Errorf("import: %w", err)
	}
	var bound []importConflict
	if err := tx.SelectContext(ctx, &bound, qImportRejectConflicts, lo, hi, true); err != nil {
		return false, fmt.Errorf("import: check identities: %w", err)
	}
	*conflicts = append(*conflicts, bound...)
	assigned -= int64(len(bound)) // each rejected row once (RETURNING names one of its addresses)
	var inserted int64
	if err := tx.GetContext(ctx, &inserted, qImportInsertSubscribers, lo, hi, now); err != nil {
		return false, fmt.Errorf("import: insert subscribers: %w", err)
	}
	if inserted < assigned {
		if _, err := tx.ExecContext(ctx, qImportLostRaces, lo, hi); err != nil {
			return false, fmt.Errorf("import: re-resolve subscribers: %w", err)
		}
	}
	return true, execAll(ctx, tx, lo, hi, now, "insert identities", qImportInsertNewIdentitiesOnConflict)
}

// execAll runs pairs of (what, statement) with the batch's bounds and time.
func execAll(ctx context.Context, tx *sqlx.Tx, lo, hi int, now time.Time, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if _, err := tx.ExecContext(ctx, pairs[i+1], lo, hi, now); err != nil {
			return fmt.Errorf("import: %s: %w", pairs[i], err)
		}
	}
	return nil
}

// importConsent records the batch's consent statements through
// consent.Import, once the rows know their subscribers, and marks the rows
// whose subscriber got a new event as changed.
func importConsent(ctx context.Context, tx *sqlx.Tx, lo, hi int) error {
	var rows []struct {
		Sub       int64  `db:"subscriber_id"`
		Marketing *bool  `db:"marketing"`
		Service   *bool  `db:"service"`
		Proof     string `db:"proof"`
	}
	if err := tx.SelectContext(ctx, &rows, qImportConsentRows, lo, hi); err != nil {
		return fmt.Errorf("import: read consent rows: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	var st []consent.Imported
	for _, r := range rows {
		for _, t := range []struct {
			topic consent.Topic
			v     *bool
		}{{consent.TopicMarketing, r.Marketing}, {consent.TopicService, r.Service}} {
			if t.v != nil {
				st = append(st, consent.Imported{SubscriberID: r.Sub, Topic: t.topic, Granted: *t.v, Proof: json.RawMessage(r.Proof)})
			}
		}
	}
	changed, err := consent.Import(ctx, tx, st)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if len(changed) > 0 {
		if _, err := tx.ExecContext(ctx, qImportConsentChanged, lo, hi, pq.Array(changed)); err != nil {
			return fmt.Errorf("import: mark consent changes: %w", err)
		}
	}
	return nil
}
