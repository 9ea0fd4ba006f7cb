package worker

import (
	"context"
	"fmt"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/db"
)

// The engine moves runs for the inbox (inbox.Runs): the inbox decides where a
// run goes after a reply or a resolved hand-off; the engine enters that step
// as it enters any step. The inbox declares the interface with no inbox
// types, so the worker does not import it.

// MoveRun moves run, if its step_seq is still seq, to step to ("" ends the
// run), merging note into its context, in q. It reports false when the run
// moved on first (its timeout, another reply), and due when the run is due
// now: call Wake after q commits.
//
// The move is one compare-and-set UPDATE on step_seq: a claim working the
// run's timeout holds the row, so the UPDATE waits for that commit and then
// finds the seq moved.
func (e *Engine) MoveRun(ctx context.Context, q db.Executor, runID int64, seq int, to string, note map[string]any) (moved, due bool, err error) {
	var run runToMove
	if err := q.GetContext(ctx, &run, qRunToMove, runID); err != nil {
		if db.IsNoRows(err) {
			return false, false, nil // the run is gone
		}
		return false, false, fmt.Errorf("load run %d: %w", runID, err)
	}
	if run.Seq != seq {
		return false, false, nil
	}
	def, err := e.definition(ctx, run.Campaign, run.Version)
	if err != nil {
		return false, false, err
	}
	return e.MoveRead(ctx, q, runID, seq, def, run.TimeZone, to, note)
}

// MoveRead is MoveRun for a caller that has read the run already: def is
// its campaign version and timeZone its subscriber's (the zone its next
// step is timed in). The inbox's router reads a sender's waiting runs and
// zone in one statement, so a reply costs one statement less. The
// compare-and-set on seq is the same: a run that moved on after the
// caller's read stays where it is.
func (e *Engine) MoveRead(ctx context.Context, q db.Executor, runID int64, seq int, def *campaigns.Definition, timeZone, to string, note map[string]any) (moved, due bool, err error) {
	now := e.clock.Now()
	tr := settle(def, runID, seq, to, now, zone(timeZone))
	tr.Ctx = mergeCtx(tr.Ctx, note)
	m, err := e.applyTransitions(ctx, q, []transition{tr})
	if err != nil {
		return false, false, err
	}
	return len(m) > 0, len(m) > 0 && tr.dueBy(now), nil
}

// PauseRun pauses run, if its step_seq is still seq, at its step until a
// person resolves its hand-off (the hand-off step does the same).
func (e *Engine) PauseRun(ctx context.Context, q db.Executor, runID int64, seq int) (bool, error) {
	n, err := db.Exec(ctx, q, fmt.Sprintf("pause run %d", runID), qPauseRun, runID, seq)
	return err == nil && n == 1, err
}
