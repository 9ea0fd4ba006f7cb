package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/db"
)

// unmatchedNote marks the hand-off of a reply no branch matched; the
// handoffs trigger (migration 00013) opens its conversation as "unmatched".
const unmatchedNote = "unmatched reply"

// Handoffs records a flow run's hand-off to a person: a row in handoffs,
// whose trigger opens (or joins) the subscriber's conversation with the run
// paused on it. The worker's hand-off step calls it through the interface it
// declares; the router calls it for a reply no branch matched.
type Handoffs struct{}

// HandOff records the hand-off of run at step stepID (sequence seq) to
// queue, in q: the caller's transaction, which pauses the run. A second
// hand-off of the same run at the same seq is a no-op.
func (Handoffs) HandOff(ctx context.Context, q db.Executor, runID int64, stepID string, seq int, queue, note string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("inbox: hand-off of run %d has no time", runID)
	}
	if _, err := q.ExecContext(ctx, qHandOff, runID, stepID, seq, queue, note, at); err != nil {
		return fmt.Errorf("inbox: hand off run %d: %w", runID, err)
	}
	return nil
}

// resumeRun resolves the run's open hand-offs and moves it on, after the
// step that handed off or, with end, to its end: one compare-and-set per
// hand-off, so a run that moved meanwhile stays put.
func (s *Service) resumeRun(ctx context.Context, runID int64, end bool) error {
	now := s.now()
	wake := false
	err := db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var hos []struct {
			ID       int64  `db:"id"`
			Step     string `db:"step_id"`
			Seq      int    `db:"seq"`
			Campaign string `db:"campaign_id"`
			Version  string `db:"campaign_version"`
		}
		if err := tx.SelectContext(ctx, &hos, qResolveRunHandoffs, runID, now); err != nil {
			return fmt.Errorf("resolve hand-offs: %w", err)
		}
		for _, ho := range hos {
			to := ""
			if !end {
				def, err := s.versions.Get(ctx, ho.Campaign, ho.Version)
				if err != nil {
					return err
				}
				to = def.NextOf(def.StepIndex(ho.Step))
			}
			_, due, err := s.runs.MoveRun(ctx, tx, runID, ho.Seq, to,
				map[string]any{"handoff": map[string]any{"id": ho.ID, "resolved_at": now}})
			if err != nil {
				return err
			}
			wake = wake || due
		}
		return nil
	})
	if err == nil && wake {
		s.runs.Wake(ctx)
	}
	return err
}
