package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
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
// Rows recorded pending for a later try (rate limits, transient failures) are
// sent again by deliver in the claim's transaction, outside the ledger.

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

// groupEnd is where the ledger group starting at jobs[start] ends: up to
// inFlightGroup messages of one batch channel, or what the channel's account
// sends in inFlightSpan (at least one, at most maxInFlight; inFlightGroup
// when the account has no rate).
func (e *Engine) groupEnd(jobs []job, start int) int {
	ch := jobs[start].m.Channel
	size := inFlightGroup
	if _, ok := e.batchSender(ch); !ok {
		if r := e.cfg.Limiter.Rate(ch).PerSecond; r > 0 {
			size = min(max(int(r*inFlightSpan.Seconds()), 1), maxInFlight)
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

// sendLedgered sends jobs, whose intents are ins (in order), through the
// ledger: each group is committed in_flight, sent, and committed with its
// outcome. The claim's transaction is not used: the rows must outlive it.
func (e *Engine) sendLedgered(ctx context.Context, def *campaigns.Definition, version, stepID string, ins []intent, jobs []job, now time.Time) ([]outcome, error) {
	outs := make([]outcome, 0, len(jobs))
	l := leaseOf(ctx)
	for start, end := 0, 0; start < len(jobs); start = end {
		end = e.groupEnd(jobs, start)
		// A claim that lost its lease must not put rows in flight: the runs
		// are another claim's now.
		if err := l.checkHeld(ctx); err != nil {
			return nil, err
		}
		group := make([]intent, end-start)
		for i, in := range ins[start:end] {
			in.Status = "in_flight"
			group[i] = in
		}
		if err := insertIntents(ctx, e.db, def, version, stepID, group, now, false); err != nil {
			return nil, fmt.Errorf("record messages in flight: %w", err)
		}
		o, err := e.sendJobs(ctx, jobs[start:end], now, false, claimPacing)
		if err != nil {
			// sendJobs fails only before a provider call (the rate limiter,
			// e.g. Redis down; a lost lease): nothing of the group went out.
			return nil, errors.Join(err, e.forgetInFlight(ctx, jobs[start:end]))
		}
		if err := settleInFlight(ctx, e.db, o); err != nil {
			return nil, err
		}
		outs = append(outs, o...)
	}
	return outs, nil
}

// forgetInFlight deletes the in-flight rows of jobs that were not handed to
// a provider, so a later claim sends them rather than calling them unknown.
// It runs even when ctx has ended (a lost lease cancels it).
func (e *Engine) forgetInFlight(ctx context.Context, jobs []job) error {
	keys := make([]string, len(jobs))
	for i, j := range jobs {
		keys[i] = j.m.Key
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := e.db.ExecContext(ctx, qForgetInFlight, pq.Array(keys)); err != nil {
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
