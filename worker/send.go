package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/templates"
)

// errRetry marks a batch with transient failures: Asynq retries it with
// backoff, and only the runs that did not move are worked again.
var errRetry = errors.New("transient send failures")

// sendRuns works claimed runs at a send step inside the claim's transaction:
// policy (the subscribers' consent locks are held), render, send, and record
// each message with its outcome and the run's move in one commit. A message
// row is written once, after its send: no pending row, no second update.
// Messages recorded pending by an earlier try (rate limit, transient
// failure) are sent again from their row by deliver.
func (e *Engine) sendRuns(ctx context.Context, tx *sqlx.Tx, def *campaigns.Definition, version string, idx int, runs []runRow, now time.Time) error {
	step := def.Steps[idx]
	next := nextOf(def, idx)
	keys := make([]string, len(runs))
	allSubs := make([]int64, len(runs))
	for i, r := range runs {
		keys[i] = MessageKey(r.ID, step.ID, r.Seq, 0)
		allSubs[i] = r.Sub
	}
	existing, err := messagesByKey(ctx, tx, keys)
	if err != nil {
		return err
	}
	subs, err := loadSubscribers(ctx, tx, allSubs)
	if err != nil {
		return err
	}
	loc := func(sub int64) *time.Location { return subs[sub].Location() }
	var (
		trs    []transition
		defers deferrals
		fresh  []runRow
		subIDs []int64
		old    []string
	)
	keyRun := make(map[string]runRow, len(runs))
	for i, r := range runs {
		keyRun[keys[i]] = r
		switch {
		case existing[keys[i]].ID != 0: // recorded by an earlier try
			old = append(old, keys[i])
		case r.Holdout:
			trs = append(trs, settle(def, r.ID, r.Seq, next, now, time.UTC))
		default:
			fresh = append(fresh, r)
			subIDs = append(subIDs, r.Sub)
		}
	}
	// moveAfter applies a send outcome to the message's run.
	moveAfter := func(r runRow, kind resultKind, after time.Duration) {
		switch kind {
		case resultDone:
			trs = append(trs, settle(def, r.ID, r.Seq, next, now, loc(r.Sub)))
		case resultLater, resultRetry: // the message is recorded pending
			defers.add(r.ID, r.Seq, now.Add(after))
		}
	}
	if len(fresh) > 0 {
		cands := kinds(def.Settings.Channels)
		decs, err := e.cfg.Gate.Decide(ctx, tx, subIDs, def, step.Send.Template, cands, now)
		if err != nil {
			return err
		}
		// Sized up front: a job (a message and its row) is 520 bytes and an
		// intent 432, and growing these by appending copied them twice over.
		ins := make([]intent, 0, len(fresh))
		jobs := make([]job, 0, len(fresh))
		jobIntent := make([]int, 0, len(fresh)) // index into ins of each job
		for _, r := range fresh {
			key := MessageKey(r.ID, step.ID, r.Seq, 0)
			d := decs[r.Sub]
			in := intent{Key: key, Sub: r.Sub, Run: r.ID, Channel: string(d.Channel), Account: d.Account, Address: d.Address}
			if in.Channel == "" && len(cands) > 0 {
				in.Channel = string(cands[0])
			}
			switch {
			case d.Send:
				c, err := e.compose(ctx, draft{def: def, version: version, template: step.Send.Template,
					sub: subs[r.Sub], runCtx: r.Context, key: key, step: step.ID}, d.Channel, now)
				if err != nil {
					in.Status, in.ErrKind, in.ErrMsg, in.At = "failed", string(channels.Invalid), err.Error(), now
					trs = append(trs, settle(def, r.ID, r.Seq, next, now, loc(r.Sub)))
					e.cfg.Metrics.Message(in.Channel, "failed")
				} else {
					in.Status, in.Content = "pending", windowed(c, d)
					jobs = append(jobs, newJob(msgRow{Key: key, Sub: r.Sub, RunID: r.ID, StepID: step.ID, CampaignID: def.ID,
						CampaignVersion: version, Topic: string(def.Topic), Channel: in.Channel, Account: in.Account, Address: in.Address}, in.Content))
					jobIntent = append(jobIntent, len(ins))
				}
				ins = append(ins, in)
			case !d.DeferUntil.IsZero():
				defers.add(r.ID, r.Seq, d.DeferUntil)
			default:
				in.Status, in.Reason = "skipped", d.Reason
				ins = append(ins, in)
				trs = append(trs, settle(def, r.ID, r.Seq, next, now, loc(r.Sub)))
				e.cfg.Metrics.Message(in.Channel, "skipped")
			}
		}
		outs, recorded, err := e.sendStep(ctx, def, version, step.ID, ins, jobs, jobIntent, now)
		if err != nil {
			return err
		}
		for i, o := range outs {
			in := &ins[jobIntent[i]]
			in.Status, in.ProviderID, in.At, in.FallbackAt, in.Reason = o.status, o.pid, o.at, o.fb, o.r
			in.ErrKind, in.ErrCode, in.ErrMsg, in.Tries = o.ek, o.ec, o.em, o.tries
			moveAfter(keyRun[in.Key], o.kind, o.after)
		}
		if len(recorded) > 0 {
			rest := ins[:0:0]
			for i, in := range ins {
				if !recorded[i] {
					rest = append(rest, in)
				}
			}
			ins = rest
		}
		if err := copyIntents(ctx, tx, def, version, step.ID, ins, now); err != nil {
			return err
		}
		if err := e.blockIdentities(ctx, tx, outs, now); err != nil {
			return err
		}
	}
	if len(old) > 0 {
		res, err := e.deliver(ctx, tx, old)
		if err != nil {
			return err
		}
		for _, k := range old {
			if out, ok := res[k]; ok { // absent: locked by another worker, which finishes it
				moveAfter(keyRun[k], out.kind, out.after)
			}
		}
	}
	if err := defers.apply(ctx, tx); err != nil {
		return err
	}
	_, err = e.applyTransitions(ctx, tx, trs)
	return err
}

// sendStep sends a step's jobs (jobIntent[i] is the index in ins of job i)
// and returns their outcomes in order, with the indexes of ins whose rows
// the in-flight ledger has already written (ledger.go). Providers that
// deduplicate get theirs under consent holds of their own — a batch sender's
// at once (sendHeld), the others' in the ledger's groups (sendGrouped) — and
// the claim writes their rows once, with their outcomes; the others go
// through the ledger (sendLedgered), which writes their rows around the calls.
func (e *Engine) sendStep(ctx context.Context, def *campaigns.Definition, version, stepID string, ins []intent, jobs []job, jobIntent []int, now time.Time) ([]outcome, map[int]bool, error) {
	var plain, grouped, viaLedger []int // indexes into jobs
	for i, j := range jobs {
		switch ch := j.m.Channel; {
		case ledgered(ch):
			viaLedger = append(viaLedger, i)
		case e.viaGroups(ch):
			grouped = append(grouped, i)
		default:
			plain = append(plain, i)
		}
	}
	if len(viaLedger) == 0 && len(grouped) == 0 {
		outs, err := e.sendHeld(ctx, jobs, now, false)
		return outs, nil, err
	}
	outs := make([]outcome, len(jobs))
	pick := func(idx []int) []job {
		out := make([]job, len(idx))
		for k, i := range idx {
			out[k] = jobs[i]
		}
		return out
	}
	for _, part := range []struct {
		idx  []int
		send func([]job) ([]outcome, error)
	}{
		{plain, func(js []job) ([]outcome, error) { return e.sendHeld(ctx, js, now, false) }},
		{grouped, func(js []job) ([]outcome, error) { return e.sendGrouped(ctx, js, now) }},
	} {
		if len(part.idx) == 0 {
			continue
		}
		o, err := part.send(pick(part.idx))
		if err != nil {
			return nil, nil, err
		}
		for k, i := range part.idx {
			outs[i] = o[k]
		}
	}
	if len(viaLedger) == 0 {
		return outs, nil, nil
	}
	lins := make([]intent, len(viaLedger))
	recorded := make(map[int]bool, len(viaLedger))
	for k, i := range viaLedger {
		lins[k] = ins[jobIntent[i]]
		recorded[jobIntent[i]] = true
	}
	o, err := e.sendLedgered(ctx, def, version, stepID, lins, pick(viaLedger), now, false)
	if err != nil {
		return nil, nil, err
	}
	for k, i := range viaLedger {
		outs[i] = o[k]
	}
	return outs, recorded, nil
}

// deferrals move runs' next_at without changing their step (quiet hours,
// rate limits, retries): no message was completed.
type deferrals struct {
	ids, seqs []int64
	ats       []*time.Time
}

func (d *deferrals) add(id int64, seq int, at time.Time) {
	d.ids, d.seqs, d.ats = append(d.ids, id), append(d.seqs, int64(seq)), append(d.ats, &at)
}

func (d *deferrals) apply(ctx context.Context, q db.Executor) error {
	if len(d.ids) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, qDefer, pq.Array(d.ids), pq.Array(d.seqs), pq.Array(timeArray(d.ats))); err != nil {
		return fmt.Errorf("defer runs: %w", err)
	}
	return nil
}

// nextNeedsZone reports whether settling into step id depends on the subscriber's zone.
func nextNeedsZone(def *campaigns.Definition, id string) bool {
	i := stepIndex(def, id)
	return id != "" && i >= 0 && def.Steps[i].Wait != nil && def.Steps[i].Wait.Until != ""
}

// blockIdentities blocks the identities whose sends failed as blocked.
func (e *Engine) blockIdentities(ctx context.Context, q db.Executor, outs []outcome, now time.Time) error {
	for _, o := range outs {
		if !o.blocked {
			continue
		}
		proof := consent.Proof{Reason: "send_blocked", MessageKey: o.m.Key}
		if err := e.blockIdentity(ctx, q, channels.Kind(o.m.Channel), o.m.Account, o.m.Address, now, proof); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends the pending messages recorded under keys (and in-flight ones
// a crash left that may be resent). Those of channels the ledger's groups
// send (viaGroups) go through them like fresh sends: read without a row lock
// (the claim holds their runs or fallback parents; ledger.go), marked in
// flight on the pool before their calls and settled after. The others are
// locked in tx, sent under the subscribers' shared consent locks after a
// consent re-read, and their outcomes (and fallback check times) recorded in
// tx. Messages locked by another worker are absent from the result; messages
// no longer pending are done.
func (e *Engine) deliver(ctx context.Context, tx *sqlx.Tx, keys []string) (map[string]deliverResult, error) {
	var all []msgRow
	if err := tx.SelectContext(ctx, &all, qPendingByKey, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("load messages: %w", err)
	}
	var msgs []msgRow
	var lockKeys []string
	for _, m := range all {
		if e.viaGroups(m.Channel) {
			msgs = append(msgs, m)
		} else {
			lockKeys = append(lockKeys, m.Key)
		}
	}
	if len(lockKeys) > 0 {
		var locked []msgRow
		if err := tx.SelectContext(ctx, &locked, qLockPending, pq.Array(lockKeys)); err != nil {
			return nil, fmt.Errorf("lock messages: %w", err)
		}
		msgs = append(msgs, locked...)
	}
	res := make(map[string]deliverResult, len(msgs))
	now := e.clock.Now()
	var pending, grouped []msgRow
	var unknown []outcome
	for _, m := range msgs {
		switch {
		case m.Status == "in_flight" && !e.resendInFlight(ctx, m):
			// Left in flight by a worker that died (ledger.go): the
			// customer may have it; a second copy is worse than a gap.
			unknown = append(unknown, outcome{id: m.ID, m: m, status: "unknown", r: unknownReason, at: now, tries: m.Tries})
			res[m.Key] = deliverResult{kind: resultDone}
			e.cfg.Metrics.Message(m.Channel, "unknown")
		case (m.Status == "pending" || m.Status == "in_flight") && e.viaGroups(m.Channel):
			grouped = append(grouped, m)
		case m.Status == "pending" || m.Status == "in_flight":
			pending = append(pending, m)
		default:
			res[m.Key] = deliverResult{kind: resultDone}
		}
	}
	if len(unknown) > 0 {
		e.log.WarnContext(ctx, "messages left in flight by a crashed worker recorded unknown", "messages", len(unknown))
		if err := updateMessages(ctx, tx, unknown); err != nil {
			return nil, err
		}
	}
	outs, err := e.deliverLocked(ctx, tx, pending, now, res)
	if err != nil {
		return nil, err
	}
	if len(grouped) > 0 {
		// A ledger group is of one channel: keep each channel's rows together.
		sort.SliceStable(grouped, func(i, j int) bool { return grouped[i].Channel < grouped[j].Channel })
		ins := make([]intent, len(grouped))
		jobs := make([]job, len(grouped))
		for i, m := range grouped {
			var c templates.Rendered
			_ = json.Unmarshal(m.Content, &c)
			ins[i] = intent{Key: m.Key, Sub: m.Sub, Run: m.RunID, Channel: m.Channel, Account: m.Account, Address: m.Address, Attempt: m.Attempt}
			jobs[i] = newJob(m, c)
		}
		sent, err := e.sendLedgered(ctx, nil, "", "", ins, jobs, now, lastAttempt(ctx))
		if err != nil {
			return nil, err
		}
		for _, o := range sent {
			res[o.m.Key] = deliverResult{kind: o.kind, after: o.after}
		}
		outs = append(outs, sent...)
	}
	if err := e.blockIdentities(ctx, tx, outs, now); err != nil {
		return nil, err
	}
	return res, nil
}

// deliverLocked sends pending, rows locked in tx, under a consent hold of
// their own (sendHeld: their subscribers' shared consent locks and a
// consent re-read), and records their outcomes in tx (and in res).
func (e *Engine) deliverLocked(ctx context.Context, tx *sqlx.Tx, pending []msgRow, now time.Time, res map[string]deliverResult) ([]outcome, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	jobs := make([]job, len(pending))
	for i, m := range pending {
		var c templates.Rendered
		_ = json.Unmarshal(m.Content, &c)
		jobs[i] = newJob(m, c)
	}
	outs, err := e.sendHeld(ctx, jobs, now, lastAttempt(ctx))
	if err != nil {
		return nil, err
	}
	for _, o := range outs {
		res[o.m.Key] = deliverResult{kind: o.kind, after: o.after}
	}
	if err := updateMessages(ctx, tx, outs); err != nil {
		return nil, err
	}
	return outs, nil
}

// blockIdentity marks the identity blocked and revokes consent for that
// channel (consent.Block).
func (e *Engine) blockIdentity(ctx context.Context, q db.Executor, ch channels.Kind, account, address string, at time.Time, proof consent.Proof) error {
	return consent.Block(ctx, q, ch, account, address, at, proof)
}
