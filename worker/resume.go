package worker

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/db"
)

// The engine implements inbox.Resumer: the inbox classifies a reply (button,
// keywords, sentiment) and tells the engine where the run goes.
var _ inbox.Resumer = (*Engine)(nil)

// ResumeReply moves run, if it still waits in the wait_reply step with
// sequence seq, to target; target "" hands the dialogue to a manager (the run
// pauses until the hand-off is resolved). It reports false when the run no
// longer waits there: its timeout, or another reply, moved it first.
//
// The move is one compare-and-set UPDATE on step_seq, without a transaction
// around it: a claim working the run's timeout holds the row, so the UPDATE
// waits for that commit and then finds the seq moved.
func (e *Engine) ResumeReply(ctx context.Context, runID int64, seq int, target string, r inbox.Reply) (bool, error) {
	now := e.clock.Now()
	var run runToMove
	if err := e.db.GetContext(ctx, &run, qRunToMove, runID); err != nil {
		return false, fmt.Errorf("load run %d: %w", runID, err)
	}
	if run.State != StateWaiting || run.Seq != seq {
		return false, nil
	}
	if target == "" {
		moved := false
		err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, qPauseRun, runID, run.Seq)
			if err != nil {
				return fmt.Errorf("pause run: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil // the timeout or another reply won
			}
			moved = true
			var id int64
			if err := tx.GetContext(ctx, &id, qHandoffUnmatched, runID, run.Sub, run.Campaign, run.Step, run.Seq, now); err != nil {
				return fmt.Errorf("hand-off unmatched reply: %w", err)
			}
			return nil
		})
		return moved, err
	}
	def, err := e.definition(ctx, run.Campaign, run.Version)
	if err != nil {
		return false, err
	}
	tr := settle(def, runID, run.Seq, target, now, zone(run.TimeZone))
	tr.Ctx = mergeCtx(tr.Ctx, map[string]any{"reply": map[string]any{"step": run.Step, "button": r.Payload,
		"sentiment": string(r.Sentiment), "rule": r.Rule, "at": r.At}})
	m, err := e.applyTransitions(ctx, e.db, []transition{tr})
	if err != nil {
		return false, err
	}
	if len(m) > 0 && tr.dueBy(now) {
		e.Wake(ctx)
	}
	return len(m) > 0, nil
}

// ResumeAfterHandoff resolves the run's open hand-offs: the run continues
// after the step that handed off, or, with end, finishes.
func (e *Engine) ResumeAfterHandoff(ctx context.Context, runID int64, end bool) error {
	var ids []int64
	if err := e.db.SelectContext(ctx, &ids, qOpenHandoffsOfRun, runID); err != nil {
		return fmt.Errorf("open hand-offs of run %d: %w", runID, err)
	}
	if end {
		return db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
			now := e.clock.Now()
			for _, id := range ids {
				if _, err := tx.ExecContext(ctx, qResolveHandoff, id, now); err != nil {
					return fmt.Errorf("resolve hand-off %d: %w", id, err)
				}
			}
			_, err := tx.ExecContext(ctx, qEndPausedRun, runID, now)
			return err
		})
	}
	for _, id := range ids {
		if err := e.Handoffs.Resolve(ctx, id); err != nil && err != ErrHandoffNotOpen {
			return err
		}
	}
	return nil
}

const (
	qOpenHandoffsOfRun = `SELECT id FROM handoffs WHERE run_id = $1 AND resolved_at IS NULL ORDER BY id`
	qEndPausedRun      = `UPDATE flow_runs SET state = 'done', ended_at = $2, next_at = NULL, step_seq = step_seq + 1,
	                             updated_at = now()
	                       WHERE id = $1 AND state = 'paused'`
)
