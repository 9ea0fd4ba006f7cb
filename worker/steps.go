package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/db"
)

// stepPayload is a batch of runs at one step of one campaign version.
type stepPayload struct {
	Campaign string     `json:"c"`
	Version  string     `json:"v"`
	Step     string     `json:"s"`
	State    string     `json:"st"`
	Runs     [][2]int64 `json:"r"` // run id, step_seq
}

type runRow struct {
	ID      int64      `db:"id"`
	Sub     int64      `db:"subscriber_id"`
	StepID  string     `db:"step_id"`
	Seq     int        `db:"step_seq"`
	State   string     `db:"state"`
	Holdout bool       `db:"holdout"`
	Context []byte     `db:"context"`
	NextAt  *time.Time `db:"next_at"`
}

func (e *Engine) handleStep(ctx context.Context, t *asynq.Task) error {
	var p stepPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %v: %w", TypeStep, err, asynq.SkipRetry)
	}
	def, err := e.definition(ctx, p.Campaign, p.Version)
	if err != nil {
		return err
	}
	idx := stepIndex(def, p.Step)
	switch {
	case idx >= 0 && p.State == StateActive && def.Steps[idx].Send != nil:
		return e.sendStep(ctx, def, p, idx)
	default:
		return e.otherSteps(ctx, def, p, idx)
	}
}

// lockRuns locks the payload's runs that are still at the payload's seq.
func lockRuns(ctx context.Context, q db.Executor, p stepPayload, states []string, now time.Time) ([]runRow, error) {
	ids := make([]int64, len(p.Runs))
	want := make(map[int64]int, len(p.Runs))
	for i, r := range p.Runs {
		ids[i] = r[0]
		want[r[0]] = int(r[1])
	}
	var rows []runRow
	if err := q.SelectContext(ctx, &rows, qLockRuns, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("lock runs: %w", err)
	}
	out := rows[:0]
	for _, r := range rows {
		if seq, ok := want[r.ID]; ok && seq == r.Seq && r.StepID == p.Step && slices.Contains(states, r.State) &&
			r.NextAt != nil && !r.NextAt.After(now) {
			out = append(out, r)
		}
	}
	return out, nil
}

func loadSubscribers(ctx context.Context, q db.Executor, ids []int64) (map[int64]Subscriber, error) {
	var subs []Subscriber
	if err := q.SelectContext(ctx, &subs, qSubscribers, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("load subscribers: %w", err)
	}
	out := make(map[int64]Subscriber, len(subs))
	for _, s := range subs {
		s.Attributes = map[string]any{}
		_ = json.Unmarshal(s.AttrsJSON, &s.Attributes)
		s.AttrsJSON = nil
		out[s.ID] = s
	}
	return out, nil
}

// applyTransitions writes transitions set-based and wakes the dispatchers
// when a run became due now. It returns the ids that moved.
func (e *Engine) applyTransitions(ctx context.Context, q db.Executor, trs []transition) ([]int64, error) {
	if len(trs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(trs))
	seqs := make([]int64, len(trs))
	states := make([]string, len(trs))
	steps := make([]string, len(trs))
	nexts := make([]*time.Time, len(trs))
	ctxs := make([]string, len(trs))
	now := e.clock.Now()
	dueNow := false
	for i, tr := range trs {
		ids[i], seqs[i], states[i], steps[i], nexts[i] = tr.ID, int64(tr.Seq), tr.State, tr.Step, tr.NextAt
		b, _ := json.Marshal(tr.Ctx)
		if tr.Ctx == nil {
			b = []byte("{}")
		}
		ctxs[i] = string(b)
		if tr.NextAt != nil && !tr.NextAt.After(now) {
			dueNow = true
		}
	}
	var moved []int64
	if err := q.SelectContext(ctx, &moved, qTransition, pq.Array(ids), pq.Array(seqs), pq.Array(states),
		pq.Array(steps), pq.Array(timeArray(nexts)), pq.Array(ctxs)); err != nil {
		return nil, fmt.Errorf("transition runs: %w", err)
	}
	if dueNow {
		if _, err := q.ExecContext(ctx, qNotifyDue); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	return moved, nil
}

// timeArray renders times for a timestamptz[] parameter (NULL for nil).
func timeArray(ts []*time.Time) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		if t != nil {
			out[i] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	return out
}

// otherSteps runs every step but send for a batch, and the timeouts of
// waiting runs (wait_reply, goal), each run moving with compare-and-set.
func (e *Engine) otherSteps(ctx context.Context, def *campaigns.Definition, p stepPayload, idx int) error {
	now := e.clock.Now()
	return db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		runs, err := lockRuns(ctx, tx, p, []string{p.State}, now)
		if err != nil || len(runs) == 0 {
			return err
		}
		subIDs := make([]int64, len(runs))
		for i, r := range runs {
			subIDs[i] = r.Sub
		}
		subs, err := loadSubscribers(ctx, tx, subIDs)
		if err != nil {
			return err
		}
		var trs []transition
		for _, r := range runs {
			sub := subs[r.Sub]
			loc := sub.Location()
			if idx < 0 {
				trs = append(trs, transition{ID: r.ID, Seq: r.Seq, State: StateFailed, Step: r.StepID,
					Ctx: map[string]any{"error": fmt.Sprintf("step %q not in version %s", p.Step, p.Version)}})
				continue
			}
			s := def.Steps[idx]
			if r.State == StateWaiting {
				tr, err := e.timeout(ctx, tx, def, idx, r, sub, now)
				if err != nil {
					return err
				}
				trs = append(trs, tr)
				continue
			}
			switch {
			case s.Branch != nil:
				target := s.Branch.Else
				if target == "" {
					target = nextOf(def, idx)
				}
				for _, c := range s.Branch.Cases {
					ok, err := caseHolds(ctx, tx, sub, c, now)
					if err != nil {
						return err
					}
					if ok {
						target = c.Goto
						break
					}
				}
				trs = append(trs, settle(def, r.ID, r.Seq, target, now, loc))
			case s.Set != nil:
				b, err := json.Marshal(s.Set.Attributes)
				if err != nil {
					return fmt.Errorf("set attributes: %w", err)
				}
				if _, err := tx.ExecContext(ctx, qSetAttributes, r.Sub, b); err != nil {
					return fmt.Errorf("set attributes: %w", err)
				}
				trs = append(trs, settle(def, r.ID, r.Seq, nextOf(def, idx), now, loc))
			case s.Goal != nil:
				t := now.Add(s.Goal.Within.D())
				trs = append(trs, transition{ID: r.ID, Seq: r.Seq, State: StateWaiting, Step: s.ID, NextAt: &t,
					Ctx: map[string]any{"goal_since": now.UTC().Format(time.RFC3339Nano)}})
			case s.Handoff != nil:
				if _, err := tx.ExecContext(ctx, qInsertHandoff, r.ID, r.Sub, p.Campaign, s.ID, r.Seq,
					s.Handoff.Queue, s.Handoff.Note, now); err != nil {
					return fmt.Errorf("create hand-off: %w", err)
				}
				if _, err := tx.ExecContext(ctx, qPauseRun, r.ID, r.Seq); err != nil {
					return fmt.Errorf("pause run: %w", err)
				}
			case s.Send != nil: // a send step reached in waiting state: treat as due again
				trs = append(trs, settle(def, r.ID, r.Seq, s.ID, now, loc))
			default: // end, wait, wait_reply entered directly
				tr := settle(def, r.ID, r.Seq, s.ID, now, loc)
				if s.Wait == nil && s.WaitReply == nil && s.End == nil {
					tr = settle(def, r.ID, r.Seq, nextOf(def, idx), now, loc)
				}
				trs = append(trs, tr)
			}
		}
		_, err = e.applyTransitions(ctx, tx, trs)
		return err
	})
}

// timeout handles a waiting run whose next_at came: wait_reply timed out, or
// a goal window ended (the conversion is recorded in the run context).
func (e *Engine) timeout(ctx context.Context, q db.Executor, def *campaigns.Definition, idx int, r runRow, sub Subscriber, now time.Time) (transition, error) {
	s := def.Steps[idx]
	loc := sub.Location()
	switch {
	case s.WaitReply != nil:
		target := s.WaitReply.OnTimeout
		if target == "" {
			target = nextOf(def, idx)
		}
		tr := settle(def, r.ID, r.Seq, target, now, loc)
		tr.Ctx = mergeCtx(tr.Ctx, map[string]any{"reply": map[string]any{"timeout": true, "step": s.ID}})
		return tr, nil
	case s.Goal != nil:
		var rc struct {
			Since string `json:"goal_since"`
		}
		_ = json.Unmarshal(r.Context, &rc)
		since, err := time.Parse(time.RFC3339Nano, rc.Since)
		if err != nil {
			since = now.Add(-s.Goal.Within.D())
		}
		var hit bool
		if err := q.GetContext(ctx, &hit, qHasEvent, r.Sub, s.Goal.Event, since, since.Add(s.Goal.Within.D())); err != nil {
			return transition{}, fmt.Errorf("goal event: %w", err)
		}
		tr := settle(def, r.ID, r.Seq, nextOf(def, idx), now, loc)
		tr.Ctx = mergeCtx(tr.Ctx, map[string]any{"goal": map[string]any{"step": s.ID, "event": s.Goal.Event, "converted": hit}})
		return tr, nil
	}
	return settle(def, r.ID, r.Seq, nextOf(def, idx), now, loc), nil
}

func mergeCtx(a, b map[string]any) map[string]any {
	if a == nil {
		return b
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

// caseHolds evaluates one branch arm: every attribute condition and every event filter.
func caseHolds(ctx context.Context, q db.Executor, sub Subscriber, c campaigns.BranchCase, now time.Time) (bool, error) {
	for _, w := range c.Where {
		if !Match(sub, w) {
			return false, nil
		}
	}
	for _, f := range c.HasEvent {
		var since *time.Time
		if f.Within > 0 {
			t := now.Add(-f.Within.D())
			since = &t
		}
		var hit bool
		if err := q.GetContext(ctx, &hit, qHasEvent, sub.ID, f.Name, since, now); err != nil {
			return false, fmt.Errorf("branch event: %w", err)
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}
