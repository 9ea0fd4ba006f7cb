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
func (e *Engine) ResumeReply(ctx context.Context, runID int64, seq int, target string, r inbox.Reply) (bool, error) {
	now := e.clock.Now()
	moved := false
	err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		var run struct {
			Campaign string `db:"campaign_id"`
			Version  string `db:"campaign_version"`
			Step     string `db:"step_id"`
			Seq      int    `db:"step_seq"`
			State    string `db:"state"`
		}
		if err := tx.GetContext(ctx, &run, qRunForResume, runID); err != nil {
			return fmt.Errorf("load run %d: %w", runID, err)
		}
		if run.State != StateWaiting || run.Seq != seq {
			return nil
		}
		var sub int64
		if err := tx.GetContext(ctx, &sub, qRunSubscriber, runID); err != nil {
			return fmt.Errorf("load run %d: %w", runID, err)
		}
		if target == "" {
			var id int64
			if err := tx.GetContext(ctx, &id, qHandoffUnmatched, runID, sub, run.Campaign, run.Step, run.Seq, now); err != nil {
				return fmt.Errorf("hand-off unmatched reply: %w", err)
			}
			res, err := tx.ExecContext(ctx, qPauseRun, runID, run.Seq)
			if err != nil {
				return fmt.Errorf("pause run: %w", err)
			}
			n, _ := res.RowsAffected()
			moved = n == 1
			return nil
		}
		def, err := e.definition(ctx, run.Campaign, run.Version)
		if err != nil {
			return err
		}
		subs, err := loadSubscribers(ctx, tx, []int64{sub})
		if err != nil {
			return err
		}
		tr := settle(def, runID, run.Seq, target, now, subs[sub].Location())
		tr.Ctx = mergeCtx(tr.Ctx, map[string]any{"reply": map[string]any{"step": run.Step, "button": r.Payload,
			"sentiment": string(r.Sentiment), "rule": r.Rule, "at": r.At}})
		m, err := e.applyTransitions(ctx, tx, []transition{tr})
		moved = len(m) > 0
		return err
	})
	return moved, err
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
	                             dispatch_key = NULL, dispatched_at = NULL, updated_at = now()
	                       WHERE id = $1 AND state = 'paused'`
)
