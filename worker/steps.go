package worker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

type runRow struct {
	ID       int64      `db:"id"`
	Campaign string     `db:"campaign_id"`
	Version  string     `db:"campaign_version"`
	Sub      int64      `db:"subscriber_id"`
	StepID   string     `db:"step_id"`
	Seq      int        `db:"step_seq"`
	State    string     `db:"state"`
	Holdout  bool       `db:"holdout"`
	Context  []byte     `db:"context"`
	NextAt   *time.Time `db:"next_at"`
}

// claimFor is how long one claim task keeps claiming before it hands over
// to a fresh task (tasks have a timeout; the queue stays fair).
const claimFor = 20 * time.Second

// handleClaim claims due runs and works them, one transaction per claim,
// until nothing is due or claimFor has passed. While the claims come back
// full it asks for a companion task, so a blast spreads over every worker.
func (e *Engine) handleClaim(ctx context.Context, _ *asynq.Task) error {
	deadline := time.Now().Add(claimFor)
	for {
		n, err := e.workDue(ctx)
		if err != nil {
			return err
		}
		full := n >= e.claimLimit()
		if full {
			if err := e.ensureClaims(ctx, 1); err != nil {
				e.log.WarnContext(ctx, "ask for a companion claim", "error", err)
			}
		}
		if n == 0 || ctx.Err() != nil || e.draining.Load() {
			return nil
		}
		if time.Now().After(deadline) {
			return nil // a full claim has already asked for a successor
		}
	}
}

// workDue claims up to BatchSize due runs (FOR NO KEY UPDATE SKIP LOCKED: claims of
// other workers are skipped, never waited for) and works them in the same
// transaction, grouped by campaign version, step and state. Runs of a failed
// transaction are still due; they are deferred briefly so one bad batch
// cannot hold every worker.
func (e *Engine) workDue(ctx context.Context) (int, error) {
	now := e.clock.Now()
	var claimed []runRow
	err := e.withLeasedTx(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		claimed = claimed[:0]
		if err := tx.SelectContext(ctx, &claimed, qClaimRuns, now, e.claimLimit(), rand.IntN(claimSlots)); err != nil {
			return fmt.Errorf("claim runs: %w", err)
		}
		if len(claimed) == 0 {
			e.emptyClaims.Add(1)
			return nil
		}
		// A claim spans slots; it works its runs oldest first, as they
		// became due.
		slices.SortFunc(claimed, func(a, b runRow) int {
			return cmp.Or(a.NextAt.Compare(*b.NextAt), cmp.Compare(a.ID, b.ID))
		})
		return e.workRuns(ctx, tx, claimed, now)
	})
	if errors.Is(err, errLeaseLost) {
		// The runs are due again and may be another worker's claim already:
		// deferring them would wait for its locks.
		e.log.WarnContext(ctx, "claim lost its lease; its runs are due again", "runs", len(claimed), "error", err)
		return len(claimed), nil
	}
	if err != nil && len(claimed) > 0 && ctx.Err() == nil {
		e.log.ErrorContext(ctx, "work due runs; deferring them", "runs", len(claimed), "error", err)
		var d deferrals
		for _, r := range claimed {
			d.add(r.ID, r.Seq, now.Add(failedClaimDelay))
		}
		if derr := d.apply(ctx, e.db); derr != nil {
			return 0, errors.Join(err, derr)
		}
		return len(claimed), nil
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// A statement cut short by the cancel can fail as the connection
		// ("driver: bad connection") rather than as the context; the cancel
		// is the cause, and callers tell shutdown from failure by it.
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return len(claimed), err
}

// claimSlots is how many slots due runs are spread over (id % claimSlots,
// migration 00034). A claim starts at a random slot, so concurrent claims
// mostly start at different index entries instead of racing for the oldest.
const claimSlots = 16

// failedClaimDelay is how long runs whose claim failed wait before the next try.
const failedClaimDelay = 5 * time.Second

type groupKey struct{ campaign, version, step, state string }

// claimLimit is how many due runs a claim asks for: BatchSize, or what
// the last claim's paced campaigns could work (claimHint). A claim that
// locked BatchSize runs and worked paceRuns of them left the rest locked
// for its whole transaction, to be locked again by the next claim: five
// row locks (WAL records) per run at a paceRuns of 100.
func (e *Engine) claimLimit() int {
	if h := int(e.claimHint.Load()); h > 0 && h < e.cfg.BatchSize {
		return h
	}
	return e.cfg.BatchSize
}

// paceLimit is the most runs of a rate-limited channel one claim sends,
// unless its account's rate sends more in paceSpan.
const paceLimit = 100

// paceSpan is how long a claim's sends to a fast account may take: at
// 1,000/s a claim of 100 runs spends more on its Postgres work than on its
// 0.1 s of sends.
const paceSpan = time.Second

// paceRuns is the most runs at a send step of def one claim works: all
// (BatchSize) when every channel takes batches unlimited; otherwise those
// that the slowest account rate of def's paced channels sends in paceSpan,
// at least paceLimit.
func (e *Engine) paceRuns(def *campaigns.Definition) int {
	n, paced := e.cfg.BatchSize, false
	for _, ch := range def.Settings.Channels {
		if _, ok := e.batchSender(ch); ok {
			continue
		}
		paced = true
		perSpan := int(e.messageRate(ch) * paceSpan.Seconds())
		if perSpan <= 0 { // no account rate: sent one by one, keep the claim short
			perSpan = paceLimit
		}
		n = min(n, max(perSpan, paceLimit))
	}
	if !paced {
		return e.cfg.BatchSize
	}
	return n
}

// batchSender returns ch's sender when it takes a batch in one call and
// the channel is not rate-limited (a limited channel goes message by
// message through the limiter).
func (e *Engine) batchSender(ch string) (BatchSender, bool) {
	bs, ok := e.senders[channels.Kind(ch)].(BatchSender)
	return bs, ok && !e.cfg.Limiter.Limited(ch)
}

// workRuns works claimed runs inside tx.
func (e *Engine) workRuns(ctx context.Context, tx *sqlx.Tx, runs []runRow, now time.Time) error {
	groups := map[groupKey][]runRow{}
	var order []groupKey
	for _, r := range runs {
		k := groupKey{r.Campaign, r.Version, r.StepID, r.State}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	defs := make(map[groupKey]*campaigns.Definition, len(order))
	hint := 0 // the most runs a paced group of this claim may work; 0: none paced
	defer func() { e.claimHint.Store(int64(hint)) }()
	for _, k := range order {
		def, err := e.definition(ctx, k.campaign, k.version)
		if err != nil {
			return err
		}
		defs[k] = def
		if idx := stepIndex(def, k.step); idx >= 0 && k.state == StateActive && def.Steps[idx].Send != nil {
			// Paced channels send one message at a time inside this
			// transaction: work at most paceRuns (the others stay due and
			// go to the next claim), so the claim ends in about paceSpan.
			if n := e.paceRuns(def); n < e.cfg.BatchSize {
				hint = max(hint, n)
				if len(groups[k]) > n {
					groups[k] = groups[k][:n]
				}
			}
		}
	}
	// The claim takes no consent lock: every send takes its subscribers'
	// shared locks in a consent hold of its own around its provider calls
	// and re-reads consent then (ledger.go underConsent), so an opt-out
	// waits for those calls, not for the claim.
	for _, k := range order {
		def := defs[k]
		idx := stepIndex(def, k.step)
		var err error
		if idx >= 0 && k.state == StateActive && def.Steps[idx].Send != nil {
			err = e.sendRuns(ctx, tx, def, k.version, idx, groups[k], now)
		} else {
			err = e.otherRuns(ctx, tx, def, k.version, idx, groups[k], now)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// loadSubscribers loads the subscribers of runs as templates and conditions see them.
func loadSubscribers(ctx context.Context, q db.Executor, ids []int64) (map[int64]Subscriber, error) {
	return subscribers.ForTemplates(ctx, q, ids)
}

// applyTransitions writes transitions set-based. It returns the ids that
// moved. A run it makes due now is claimed by the claim task that is running
// (it claims again until nothing is due); callers outside a claim Wake the
// workers after their commit.
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
	for i, tr := range trs {
		ids[i], seqs[i], states[i], steps[i], nexts[i] = tr.ID, int64(tr.Seq), tr.State, tr.Step, tr.NextAt
		b, _ := json.Marshal(tr.Ctx)
		if tr.Ctx == nil {
			b = []byte("{}")
		}
		ctxs[i] = string(b)
	}
	var moved []int64
	if err := q.SelectContext(ctx, &moved, qTransition, pq.Array(ids), pq.Array(seqs), pq.Array(states),
		pq.Array(steps), pq.Array(timeArray(nexts)), pq.Array(ctxs)); err != nil {
		return nil, fmt.Errorf("transition runs: %w", err)
	}
	return moved, nil
}

// dueBy reports whether tr leaves its run due at or before now.
func (tr transition) dueBy(now time.Time) bool { return tr.NextAt != nil && !tr.NextAt.After(now) }

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

// otherRuns works claimed runs at any step but send, and the timeouts of
// waiting runs (wait_reply, goal), each run moving with compare-and-set.
func (e *Engine) otherRuns(ctx context.Context, tx *sqlx.Tx, def *campaigns.Definition, version string, idx int, runs []runRow, now time.Time) error {
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
				Ctx: map[string]any{"error": fmt.Sprintf("step %q not in version %s", r.StepID, version)}})
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
		case s.Split != nil:
			trs = append(trs, splitRun(def, version, idx, r, now, loc))
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
			if err := e.cfg.Handoffs.HandOff(ctx, tx, r.ID, s.ID, r.Seq, s.Handoff.Queue, s.Handoff.Note, now); err != nil {
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
}

// splitRun sends a run down the variant its subscriber takes at split step
// idx (campaigns.SplitStep.Pick) and records the variant in the run's
// context, beside those of splits it passed before.
func splitRun(def *campaigns.Definition, version string, idx int, r runRow, now time.Time, loc *time.Location) transition {
	s := def.Steps[idx]
	i := s.Split.Pick(r.Campaign, version, s.ID, r.Sub)
	if i < 0 {
		return transition{ID: r.ID, Seq: r.Seq, State: StateFailed, Step: s.ID,
			Ctx: map[string]any{"error": fmt.Sprintf("split %q has no variant with a positive weight", s.ID)}}
	}
	v := s.Split.Variants[i]
	var rc map[string]json.RawMessage
	_ = json.Unmarshal(r.Context, &rc)
	taken := map[string]string{}
	if err := json.Unmarshal(rc[campaigns.SplitContextKey], &taken); err != nil || taken == nil {
		taken = map[string]string{} // the first split of this run
	}
	taken[s.ID] = v.ID
	tr := settle(def, r.ID, r.Seq, v.Goto, now, loc)
	tr.Ctx = mergeCtx(tr.Ctx, map[string]any{campaigns.SplitContextKey: taken})
	return tr
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
		if hit { // reported in the claim's transaction, with the run's move
			if err := hooks.Emit(ctx, q, r.Sub, hooks.GoalReached, map[string]any{"campaign_id": def.ID, "run_id": r.ID,
				"step_id": s.ID, "event": s.Goal.Event, "since": since}, now); err != nil {
				return transition{}, err
			}
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
	for i, w := range c.Where {
		ok, err := w.Match(sub.Subject())
		if err != nil {
			return false, fmt.Errorf("branch where[%d]: %w", i, err)
		}
		if !ok {
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
