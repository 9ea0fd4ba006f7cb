package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
)

// The in-flight ledger.
//
// A claim sends, then commits its messages with its runs' moves. A worker
// that dies between a provider's accept and that commit leaves the runs due
// with no message recorded, and the next claim sends the same keys again:
// harmless where the provider deduplicates on the key (channels.
// DeduplicatesByKey: VK, the sandbox), a second message to the customer
// everywhere else. So messages to those other providers are recorded outside
// the claim's transaction, on the pool, one by one or in small groups: committed
// in_flight before their provider calls and with their outcome (sent with the
// provider's id, failed, pending) right after. A claim that later finds an
// in_flight row of one of its runs — it holds the run, so the worker that
// wrote the row is gone or has lost its lease — does not know whether the
// customer got it: it records the message unknown (counted in the funnel and
// in nudge_messages_total{status="unknown"}) and moves the run on, unless the
// campaign says on_unknown: resend. A crash thus costs at most the requests
// in flight, not every claim's worth of messages.
//
// Rows recorded pending for a later try (rate limits, transient failures,
// an opt-out's yield) and fallback rungs are sent by deliver through the same
// groups: the row, already there, is updated in flight on the pool (not
// inserted), settled after its calls, or set pending again when no provider
// was called. deliver does not row-lock these rows in the claim's
// transaction, since an update on the pool would then wait on the claim
// itself: the claim holds the row's run (a step's retry) or its fallback
// parent (a rung), and every path to a pending row goes through one of those
// locks first, so the row needs none of its own. The one other writer of
// such a row, an erasure, takes the subscriber's consent lock exclusively,
// then their runs, then their messages in id order: it waits at the run or
// at the rung's parent (an earlier row) before it can hold the row the
// ledger writes, and a group that could not take the consent lock (it
// yields) leaves its retried rows untouched. Rows of channels sent in one
// batch (not viaGroups, sendHeld) are still locked
// and updated in the claim's transaction.

// inFlightGroup is the most messages of one claim in flight to a provider
// that does not deduplicate and takes a batch in one call.
const inFlightGroup = 10

// inFlightSpan bounds a ledger group of a provider called message by message
// (every real one: each is rate-limited) to what its account sends in this
// long, and at least one message: a crash can leave unknown only what a claim
// would have sent in the next 100 ms (1 message at 1-10/s, 3 at Telegram's
// 30/s, 100 at 1,000/s), while at a fast account the group's two short writes
// stay small beside its sends (one message per group kept 1,000/s at 71%).
const inFlightSpan = 100 * time.Millisecond

// dedupGroup is the group of a deduplicating provider without an account
// rate. Single 100k blasts through VK (4 claims at a time): groups of 10
// sent 2,367 msg/s, 32 5,207 (worker peak RSS 59.8 MB), 64 6,497 (64.4 MB),
// 128 5,682 (70.8 MB); 32 keeps the worker within its 60 MB.
const dedupGroup = 32

// groupEnd is where the ledger group starting at jobs[start] ends: up to
// inFlightGroup messages of one batch channel, or what the channel's account
// sends in inFlightSpan (at least one, at most maxInFlight calls, whole
// requests of a channels.RequestBatcher). When the
// account has no rate: inFlightGroup where a crash could send the group
// twice, dedupGroup where the provider deduplicates (only the consent hold
// is at stake, and it lasts as long as the group's concurrent calls; each
// group is a transaction and a consent re-read of its own).
func (e *Engine) groupEnd(jobs []job, start int) int {
	ch := jobs[start].m.Channel
	size := inFlightGroup
	if _, ok := e.batchSender(ch); !ok {
		switch r := e.messageRate(ch); {
		case r > 0:
			// Whole requests where a request carries many messages
			// (requestBatch): a part-filled one spends a slot for less.
			_, per := e.requestBatch(ch)
			size = min(max(int(r*inFlightSpan.Seconds()), 1), maxInFlight*per)
			size = max(size-size%per, 1)
		case !ledgered(ch):
			size = dedupGroup
		}
	}
	end := start + 1
	for end < len(jobs) && end-start < size && jobs[end].m.Channel == ch {
		end++
	}
	return end
}

// unknownReason is the reason of a message found in flight after a crash.
const unknownReason = "in_flight_at_crash"

// ledgered reports whether messages on ch go through the in-flight ledger.
func ledgered(ch string) bool { return !channels.DeduplicatesByKey(channels.Kind(ch)) }

// viaGroups reports whether messages on ch go through the ledger's groups,
// each under its own consent hold: providers that do not deduplicate (the
// ledger proper), and channels sent message by message (at an account's
// rate a claim's sends take seconds; a group keeps each hold to what the
// account sends in inFlightSpan). A step's fresh messages to a deduplicating
// provider are sent in these groups without rows in flight (sendGrouped);
// its retried rows are marked in flight like the others', and a crash
// leaves them to be sent again (resendInFlight).
func (e *Engine) viaGroups(ch string) bool {
	_, batch := e.batchSender(ch)
	return ledgered(ch) || !batch
}

// sendLedgered sends jobs, whose intents are ins (in order), through the
// ledger, group by group (sendGroup). The claim's transaction is not used:
// the rows must outlive it. A job with a row id is a retry of a recorded
// row (deliver); def, version and stepID are only used to insert the fresh
// ones' rows, and final is sendJobs's (the task's last try).
func (e *Engine) sendLedgered(ctx context.Context, def *campaigns.Definition, version, stepID string, ins []intent, jobs []job, now time.Time, final bool) ([]outcome, error) {
	return e.eachGroup(ctx, jobs, func(start, end int) ([]outcome, error) {
		return e.sendGroup(ctx, def, version, stepID, ins[start:end], jobs[start:end], now, final)
	})
}

// eachGroup runs send over jobs group by group (groupEnd) while the claim
// holds its lease: a claim that lost it must send no further group nor put
// rows in flight, as another claim may hold the runs now.
func (e *Engine) eachGroup(ctx context.Context, jobs []job, send func(start, end int) ([]outcome, error)) ([]outcome, error) {
	outs := make([]outcome, 0, len(jobs))
	l := leaseOf(ctx)
	for start, end := 0, 0; start < len(jobs); start = end {
		end = e.groupEnd(jobs, start)
		if err := l.checkHeld(ctx); err != nil {
			return nil, err
		}
		o, err := send(start, end)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o...)
	}
	return outs, nil
}

// sendGrouped sends fresh messages of a deduplicating provider called
// message by message in the ledger's groups, each under a consent hold of
// its own (sendHeld), and returns their outcomes for the claim to write:
// no row is written before the calls. A crash before the claim commits
// leaves the runs due and the keys unrecorded, and the next claim sends the
// same keys again, which the provider keeps once (channels.DeduplicatesByKey);
// so each message row is written once, not in flight and then again.
// (Two groups at once, one's consent hold overlapping the other's calls,
// raised a 100k blast's worker peak RSS from 60 to 63–65 MB with no rate
// gain that a loaded box could show: docs/performance.md.)
func (e *Engine) sendGrouped(ctx context.Context, jobs []job, now time.Time) ([]outcome, error) {
	return e.eachGroup(ctx, jobs, func(start, end int) ([]outcome, error) {
		return e.sendHeld(ctx, jobs[start:end], now, false)
	})
}

// optOutYield is how long a message waits that yielded to a consent writer
// holding or awaiting its subscriber's lock.
const optOutYield = time.Second

// underConsent runs send for jobs under a consent hold of their own: a
// transaction that tries each subscriber's shared consent lock (never
// waits for it) and re-reads consent, from before the calls until they
// return, so an opt-out waits for these sends only, not for the claim that
// made them; the claim takes no consent lock. held and may say, per job,
// whether its lock was taken and whether consent allows the message (a
// subscriber whose opt-out is under way is not sent to now: the message
// yields, verdict). send's context carries the hold: each provider call
// first checks that the session still holds the locks (fresh,
// batchContext), since a consent writer ends a session idle on them for
// consent.StaleSender (consent/takeover.go). The hold commits after send.
func (e *Engine) underConsent(ctx context.Context, jobs []job, send func(ctx context.Context, held, may []bool) error) error {
	gtx, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin consent hold: %w", err)
	}
	defer func() { _ = gtx.Rollback() }()
	subs := make([]int64, len(jobs))
	for i, j := range jobs {
		subs[i] = j.m.Sub
	}
	locked, err := consent.TryLockShared(ctx, gtx, subs)
	if err != nil {
		return err
	}
	var rcpts []consent.Recipient
	var heldIdx []int
	held := make([]bool, len(jobs))
	for i, j := range jobs {
		if held[i] = locked[j.m.Sub]; held[i] {
			heldIdx = append(heldIdx, i)
			rcpts = append(rcpts, consent.Recipient{SubscriberID: j.m.Sub, Channel: channels.Kind(j.m.Channel),
				Account: j.m.Account, Address: j.m.Address, Topic: consent.Topic(j.m.Topic)})
		}
	}
	readAt := time.Now()
	allowed, err := consent.Sendable(ctx, gtx, rcpts)
	if err != nil {
		return err
	}
	may := make([]bool, len(jobs))
	for k, i := range heldIdx {
		may[i] = allowed[k]
	}
	var heldSubs []int64
	for _, i := range heldIdx {
		heldSubs = append(heldSubs, jobs[i].m.Sub)
	}
	h := newHold(gtx, heldSubs, readAt)
	if err := send(context.WithValue(ctx, holdKey{}, h), held, may); err != nil {
		return err
	}
	h.mu.Lock()
	lost := h.lost
	h.mu.Unlock()
	if lost != nil {
		// A consent writer ended the hold's session (the sends waited
		// for slots, or the worker was frozen): the messages not yet
		// handed over yielded to it.
		e.log.InfoContext(ctx, "sends yielded to a consent writer", "error", lost)
	} else if err := gtx.Commit(); err != nil {
		// The session ended after the last call began: the outcomes
		// are written by the caller.
		e.log.WarnContext(ctx, "consent locks ended before the sends returned", "error", err)
	}
	return nil
}

// verdict is a job's outcome when underConsent does not let it go: yielded
// to a consent writer (pending, back after optOutYield) or skipped without
// consent; send reports that it goes to its provider.
func (e *Engine) verdict(j job, held, may bool, now time.Time) (o outcome, send bool) {
	o = outcome{id: j.m.ID, m: j.m, at: now, tries: j.m.Tries}
	switch {
	case !held:
		o.kind, o.status, o.after = resultLater, "pending", optOutYield
	case !may:
		o.status, o.r = "skipped", "no_consent"
		e.cfg.Metrics.Message(j.m.Channel, "skipped")
	default:
		return o, true
	}
	return o, false
}

// sendHeld sends jobs of channels that need no ledger (a deduplicating
// batch sender) under a consent hold of their own (underConsent); the
// claim records their outcomes.
func (e *Engine) sendHeld(ctx context.Context, jobs []job, now time.Time, final bool) ([]outcome, error) {
	outs := make([]outcome, len(jobs))
	err := e.underConsent(ctx, jobs, func(hctx context.Context, held, may []bool) error {
		idx, toSend := make([]int, 0, len(jobs)), make([]job, 0, len(jobs))
		for i, j := range jobs {
			o, ok := e.verdict(j, held[i], may[i], now)
			outs[i] = o
			if ok {
				idx, toSend = append(idx, i), append(toSend, j)
			}
		}
		if len(toSend) == 0 {
			return nil
		}
		sent, err := e.sendJobs(hctx, toSend, now, final, claimPacing)
		if err != nil {
			return err
		}
		for k, i := range idx {
			outs[i] = sent[k]
		}
		return nil
	})
	return outs, err
}

// sendGroup sends one ledger group under a consent hold of its own
// (underConsent), so an opt-out waits for one group's sends (what the
// account sends in inFlightSpan). Each message is committed in flight (or
// skipped, or pending), sent, and committed with its outcome once the hold
// has let a waiting opt-out through.
func (e *Engine) sendGroup(ctx context.Context, def *campaigns.Definition, version, stepID string, ins []intent, jobs []job, now time.Time, final bool) ([]outcome, error) {
	outs := make([]outcome, len(jobs))
	var sent []outcome
	var sendIdx []int
	err := e.underConsent(ctx, jobs, func(hctx context.Context, held, may []bool) error {
		group := make([]intent, len(jobs))
		var toSend []job
		for i, in := range ins {
			o, ok := e.verdict(jobs[i], held[i], may[i], now)
			switch {
			case ok:
				in.Status = "in_flight"
				sendIdx = append(sendIdx, i)
				toSend = append(toSend, jobs[i])
			case o.status == "skipped":
				in.Status, in.Reason, in.At = "skipped", o.r, now
			default:
				in.Status = "pending"
			}
			group[i], outs[i] = in, o
		}
		if err := e.recordGroup(ctx, def, version, stepID, group, jobs, now); err != nil {
			return err
		}
		if len(toSend) == 0 {
			return nil
		}
		var err error
		sent, err = e.sendJobs(hctx, toSend, now, final, claimPacing)
		if err == nil || ctx.Err() != nil {
			// Cancelled (a lost lease, a shutdown) while the paced
			// sender waited for slots: some of the group may have gone
			// out. Its rows stay in flight, so a later claim records
			// them unknown rather than sending any twice.
			return err
		}
		// The rate limiter failed (Redis down) before any provider
		// call: nothing of the group went out.
		return errors.Join(err, e.forgetInFlight(ctx, toSend))
	})
	if err != nil {
		return nil, err
	}
	if len(sent) == 0 {
		return outs, nil
	}
	if err := settleInFlight(ctx, e.db, sent); err != nil {
		return nil, err
	}
	for k, i := range sendIdx {
		outs[i] = sent[k]
	}
	return outs, nil
}

// recordGroup commits a group's rows on the pool before its sends: fresh
// intents inserted, retried rows (jobs with a row id) updated to their
// intent's status. A retried row is only written with its subscriber's
// consent lock held (an erasure takes it exclusively before any row lock).
func (e *Engine) recordGroup(ctx context.Context, def *campaigns.Definition, version, stepID string, group []intent, jobs []job, now time.Time) error {
	var fresh []intent
	var keys, sts, rs []string
	for i, in := range group {
		switch {
		case jobs[i].m.ID == 0:
			fresh = append(fresh, in)
		case in.Status == "pending":
			// Yielded to a consent writer, which may hold this row
			// (an erasure): the row is left as it is, pending, or in
			// flight and resendable (deliver sends it as pending).
		default:
			keys, sts, rs = append(keys, in.Key), append(sts, in.Status), append(rs, in.Reason)
		}
	}
	if len(fresh) > 0 {
		if err := insertIntents(ctx, e.db, def, version, stepID, fresh, now, false); err != nil {
			return fmt.Errorf("record messages in flight: %w", err)
		}
	}
	if len(keys) > 0 {
		if _, err := e.db.ExecContext(ctx, qMarkRetries, pq.Array(keys), pq.Array(sts), pq.Array(rs)); err != nil {
			return fmt.Errorf("record retried messages in flight: %w", err)
		}
	}
	return nil
}

// forgetInFlight undoes the in-flight marks of jobs that were not handed to
// a provider, so a later claim sends them rather than calling them unknown:
// a fresh row is deleted, a retried one is pending again. It runs even when
// ctx has ended (a lost lease cancels it).
func (e *Engine) forgetInFlight(ctx context.Context, jobs []job) error {
	var fresh, retried []string
	for _, j := range jobs {
		if j.m.ID == 0 {
			fresh = append(fresh, j.m.Key)
		} else {
			retried = append(retried, j.m.Key)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := e.db.ExecContext(ctx, qForgetInFlight, pq.Array(fresh), pq.Array(retried)); err != nil {
		return fmt.Errorf("forget messages not sent: %w", err)
	}
	return nil
}

// settleInFlight records the outcomes of messages committed in flight.
func settleInFlight(ctx context.Context, q db.Executor, outs []outcome) error {
	n := len(outs)
	keys, st, pid, ek, ec, em, rs := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	tries := make([]int64, n)
	at, fb := make([]*time.Time, n), make([]*time.Time, n)
	for i, o := range outs {
		t := o.at
		keys[i], st[i], pid[i], at[i], ek[i], ec[i], em[i], rs[i], fb[i] = o.m.Key, o.status, o.pid, &t, o.ek, o.ec, o.em, o.r, o.fb
		tries[i] = int64(o.tries)
	}
	if _, err := q.ExecContext(ctx, qSettleInFlight, pq.Array(keys), pq.Array(st), pq.Array(pid), pq.Array(timeArray(at)),
		pq.Array(ek), pq.Array(ec), pq.Array(em), pq.Array(rs), pq.Array(timeArray(fb)), pq.Array(tries)); err != nil {
		return fmt.Errorf("record outcomes of messages in flight: %w", err)
	}
	return nil
}

// resendInFlight reports whether a message found in flight after a crash is
// sent again: its provider deduplicates, or its campaign says on_unknown: resend.
func (e *Engine) resendInFlight(ctx context.Context, m msgRow) bool {
	if !ledgered(m.Channel) {
		return true
	}
	if m.CampaignID == "" {
		return false
	}
	def, err := e.definition(ctx, m.CampaignID, m.CampaignVersion)
	return err == nil && def.Settings.OnUnknown == campaigns.OnUnknownResend
}
