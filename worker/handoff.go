package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/db"
)

// ErrHandoffNotOpen is returned by Resolve for an unknown or resolved hand-off.
var ErrHandoffNotOpen = errors.New("hand-off not found or already resolved")

// Handoffs resolves hand-offs and resumes their runs.
type Handoffs struct{ e *Engine }

// Resolve closes hand-off id and resumes its run after the step that handed
// off (compare-and-set on step_seq: a run that moved meanwhile stays put).
func (h *Handoffs) Resolve(ctx context.Context, id int64) error {
	e := h.e
	now := e.clock.Now()
	wake := false
	err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		var ho struct {
			Run  int64
			Step string
			Seq  int
		}
		row := tx.QueryRowxContext(ctx, qResolveHandoff, id, now)
		if err := row.Scan(&ho.Run, &ho.Step, &ho.Seq); err != nil {
			if db.IsNoRows(err) {
				return ErrHandoffNotOpen
			}
			return fmt.Errorf("resolve hand-off: %w", err)
		}
		if ho.Run == 0 {
			return nil
		}
		var run runToMove
		if err := tx.GetContext(ctx, &run, qRunToMove, ho.Run); err != nil {
			return fmt.Errorf("load run: %w", err)
		}
		if run.State != StatePaused || run.Seq != ho.Seq {
			return nil
		}
		def, err := e.definition(ctx, run.Campaign, run.Version)
		if err != nil {
			return err
		}
		idx := stepIndex(def, ho.Step)
		target := ""
		if idx >= 0 {
			target = nextOf(def, idx)
		}
		tr := settle(def, ho.Run, run.Seq, target, now, zone(run.TimeZone))
		tr.Ctx = mergeCtx(tr.Ctx, map[string]any{"handoff": map[string]any{"id": id, "resolved_at": now}})
		m, err := e.applyTransitions(ctx, tx, []transition{tr})
		wake = len(m) > 0 && tr.dueBy(now)
		return err
	})
	if err == nil && wake {
		e.Wake(ctx)
	}
	return err
}
