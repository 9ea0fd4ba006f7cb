package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
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

// MessageKey is the idempotency key of a message intent.
func MessageKey(runID int64, stepID string, seq, attempt int) string {
	return fmt.Sprintf("r%d:%s:%d:%d", runID, stepID, seq, attempt)
}

// rungKey derives the key of the next fallback attempt from a message key.
func rungKey(key string, attempt int) string {
	i := strings.LastIndexByte(key, ':')
	return key[:i+1] + strconv.Itoa(attempt)
}

// intent is a message row to insert: its outcome when it was sent in the
// same transaction, or pending / skipped / failed.
type intent struct {
	Key, Channel, Address, Status, Reason, ErrKind, ErrCode, ErrMsg, ProviderID string
	Sub, Run                                                                    int64
	Attempt, Tries                                                              int
	Content                                                                     Content
	At                                                                          time.Time  // sent_at or failed_at
	FallbackAt                                                                  *time.Time // when to check the fallback rung
}

type msgRow struct {
	ID              int64  `db:"id"`
	Key             string `db:"idempotency_key"`
	Sub             int64  `db:"subscriber_id"`
	RunID           int64  `db:"run_id"`
	StepID          string `db:"step_id"`
	CampaignID      string `db:"campaign_id"`
	CampaignVersion string `db:"campaign_version"`
	Topic           string `db:"topic"`
	Channel         string `db:"channel"`
	Account         string `db:"account"`
	Address         string `db:"address"`
	Attempt         int    `db:"attempt"`
	Status          string `db:"status"`
	Content         []byte `db:"content"`
	Tries           int    `db:"tries"`
}

func kinds(names []string) []channels.Kind {
	out := make([]channels.Kind, len(names))
	for i, n := range names {
		out[i] = channels.Kind(n)
	}
	return out
}

// insertIntents inserts message rows; once makes a key already present a no-op.
func insertIntents(ctx context.Context, q db.Executor, def *campaigns.Definition, version, stepID string, ins []intent, now time.Time, once bool) error {
	if len(ins) == 0 {
		return nil
	}
	n := len(ins)
	keys, chs, addrs, sts, cs, rs, eks, ecs, ems, pids := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	subs, runs, atts, tries := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	ats, fbs := make([]*time.Time, n), make([]*time.Time, n)
	for i, in := range ins {
		b, _ := json.Marshal(in.Content)
		keys[i], subs[i], runs[i], chs[i], addrs[i], atts[i], sts[i], cs[i], rs[i], eks[i], ems[i] =
			in.Key, in.Sub, in.Run, in.Channel, in.Address, int64(in.Attempt), in.Status, string(b), in.Reason, in.ErrKind, in.ErrMsg
		ecs[i], pids[i], tries[i], fbs[i] = in.ErrCode, in.ProviderID, int64(in.Tries), in.FallbackAt
		at := in.At
		if at.IsZero() {
			at = now
		}
		ats[i] = &at
	}
	query := qInsertMessages
	if once {
		query = qInsertMessagesOnce
	}
	_, err := q.ExecContext(ctx, query, pq.Array(keys), pq.Array(subs), def.ID, version, stepID,
		string(def.Topic), pq.Array(runs), pq.Array(chs), pq.Array(addrs), pq.Array(atts), pq.Array(sts),
		pq.Array(cs), pq.Array(rs), pq.Array(eks), pq.Array(ems), pq.Array(ecs), pq.Array(pids), pq.Array(tries),
		pq.Array(timeArray(ats)), pq.Array(timeArray(fbs)))
	if err != nil {
		return fmt.Errorf("insert messages: %w", err)
	}
	return nil
}

// messageColumns are the columns copyIntents writes.
var messageColumns = []string{"idempotency_key", "subscriber_id", "campaign_id", "campaign_version", "run_id",
	"step_id", "topic", "channel", "account", "address", "attempt", "status", "content", "reason",
	"error_kind", "error_message", "error_code", "provider_id", "tries", "sent_at", "failed_at", "fallback_at"}

// copyIntents writes message rows with COPY: the step path reads its keys
// under its runs' locks first, so it needs no conflict handling, and COPY
// parses rows for a fraction of what array parameters and unnest cost.
func copyIntents(ctx context.Context, tx *sqlx.Tx, def *campaigns.Definition, version, stepID string, ins []intent, now time.Time) error {
	if len(ins) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, pq.CopyIn("messages", messageColumns...))
	if err != nil {
		return fmt.Errorf("copy messages: %w", err)
	}
	defer st.Close()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, in := range ins {
		b, _ := json.Marshal(in.Content)
		at := in.At
		if at.IsZero() {
			at = now
		}
		var sentAt, failedAt, fb any
		switch in.Status {
		case "sent":
			sentAt = at
		case "failed":
			failedAt = at
		}
		if in.FallbackAt != nil {
			fb = *in.FallbackAt
		}
		if _, err := st.ExecContext(ctx, in.Key, in.Sub, def.ID, version, in.Run, stepID, string(def.Topic), in.Channel, "",
			in.Address, in.Attempt, in.Status, string(b), null(in.Reason), null(in.ErrKind), null(in.ErrMsg),
			null(in.ErrCode), null(in.ProviderID), in.Tries, sentAt, failedAt, fb); err != nil {
			return fmt.Errorf("copy messages: %w", err)
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy messages: %w", err)
	}
	return nil
}

func messagesByKey(ctx context.Context, q db.Executor, keys []string) (map[string]msgRow, error) {
	var rows []msgRow
	if err := q.SelectContext(ctx, &rows, qMessagesByKey, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("load messages: %w", err)
	}
	out := make(map[string]msgRow, len(rows))
	for _, r := range rows {
		out[r.Key] = r
	}
	return out, nil
}

// payloadOf is what templates see as .Payload: the run context (reply,
// goal, trigger) with the trigger payload's keys on top.
func payloadOf(runCtx []byte) map[string]any {
	var rc map[string]any
	_ = json.Unmarshal(runCtx, &rc)
	out := make(map[string]any, len(rc))
	for k, v := range rc {
		if k != "payload" {
			out[k] = v
		}
	}
	if p, ok := rc["payload"].(map[string]any); ok {
		for k, v := range p {
			out[k] = v
		}
	}
	return out
}

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
		var ins []intent
		var jobs []job
		var jobIntent []int // index into ins of each job
		for _, r := range fresh {
			key := MessageKey(r.ID, step.ID, r.Seq, 0)
			d := decs[r.Sub]
			in := intent{Key: key, Sub: r.Sub, Run: r.ID, Channel: string(d.Channel), Address: d.Address}
			if in.Channel == "" && len(cands) > 0 {
				in.Channel = string(cands[0])
			}
			switch {
			case d.Send:
				c, err := e.cfg.Renderer.Render(version, def, step.Send.Template, d.Channel,
					templates.Data{Subscriber: subs[r.Sub].templateSubscriber(), Payload: payloadOf(r.Context), Now: now, CampaignID: def.ID})
				if err != nil {
					in.Status, in.ErrKind, in.ErrMsg, in.At = "failed", string(channels.Invalid), err.Error(), now
					trs = append(trs, settle(def, r.ID, r.Seq, next, now, loc(r.Sub)))
					e.cfg.Metrics.Message(in.Channel, "failed")
				} else {
					in.Status, in.Content = "pending", contentOf(c)
					jobs = append(jobs, job{m: msgRow{Key: key, Sub: r.Sub, RunID: r.ID, StepID: step.ID, CampaignID: def.ID,
						CampaignVersion: version, Topic: string(def.Topic), Channel: in.Channel, Address: in.Address},
						msg: message(key, in.Channel, "", in.Address, in.Content)})
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
		outs, err := e.sendJobs(ctx, jobs, now, false)
		if err != nil {
			return err
		}
		for i, o := range outs {
			in := &ins[jobIntent[i]]
			in.Status, in.ProviderID, in.At, in.FallbackAt = o.status, o.pid, o.at, o.fb
			in.ErrKind, in.ErrCode, in.ErrMsg, in.Tries = o.ek, o.ec, o.em, o.tries
			moveAfter(keyRun[in.Key], o.kind, o.after)
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

type resultKind int

const (
	resultDone  resultKind = iota // sent, failed for good, or skipped: move on
	resultLater                   // provider rate limit: try again after
	resultRetry                   // transient: try again after a backoff
)

type deliverResult struct {
	kind  resultKind
	after time.Duration
}

// outcome is what became of one message: its new row values and what its run does.
type outcome struct {
	kind                       resultKind
	after                      time.Duration
	id                         int64
	status, pid, ek, ec, em, r string
	at                         time.Time
	fb                         *time.Time
	tries                      int
	blocked                    bool
	m                          msgRow
}

// lastAttempt reports whether this is the task's final try.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}

// retryBackoff is the wait before try n+1 of a message after a transient failure.
func retryBackoff(tries int) time.Duration { return time.Duration(1<<min(tries, 6)) * time.Second }

// job is one message for a provider.
type job struct {
	m   msgRow
	msg channels.Message
}

// message builds the provider message of a message row. The idempotency key
// doubles as the correlation the provider echoes back (Viber tracking_data,
// WhatsApp biz_opaque_callback_data): it is known before the row exists.
func message(key, ch, account, address string, c Content) channels.Message {
	return channels.Message{IdempotencyKey: key, Channel: channels.Kind(ch), Account: account, To: address,
		Text: c.Text, Format: c.Format, Subject: c.Subject, HTML: c.HTML, ImageURL: c.ImageURL, Buttons: c.Buttons,
		Template: c.Template, Tag: c.Tag, Correlation: key}
}

// sendJobs hands the jobs to their channels — a batch sender at once when its
// channel is not rate-limited, otherwise one by one through the limiter — and
// returns each job's outcome, in order. final forces transient failures to
// count as the last try.
func (e *Engine) sendJobs(ctx context.Context, jobs []job, now time.Time, final bool) ([]outcome, error) {
	outs := make([]outcome, len(jobs))
	record := func(i int, r channels.Result, err error) {
		m := jobs[i].m
		o := outcome{id: m.ID, m: m, tries: m.Tries, at: now}
		defer func() { outs[i] = o }()
		if err == nil {
			// The engine's clock, not the provider's: fallback checks are
			// timed from sent_at on the same clock.
			o.status, o.pid, o.fb = "sent", r.ProviderID, e.fallbackAt(ctx, m, now)
			e.cfg.Metrics.Message(m.Channel, "sent")
			return
		}
		var ce *channels.Error
		if !errors.As(err, &ce) {
			ce = &channels.Error{Kind: channels.Transient, Message: err.Error()}
		}
		switch ce.Kind {
		case channels.RateLimited:
			o.kind, o.status, o.after = resultLater, "pending", ce.RetryAfter
			if o.after <= 0 {
				o.after = time.Second
			}
			return
		case channels.Transient:
			if o.tries+1 < maxRetry && !final {
				o.tries++
				o.kind, o.status, o.after = resultRetry, "pending", retryBackoff(o.tries)
				o.ek, o.ec, o.em = string(ce.Kind), ce.Code, ce.Message
				e.log.WarnContext(ctx, "send failed, will retry", "message_key", m.Key, "channel", m.Channel,
					"error_code", ce.Code, "tries", o.tries)
				return
			}
		}
		o.status, o.ek, o.ec, o.em = "failed", string(ce.Kind), ce.Code, ce.Message
		if ce.Kind == channels.Blocked || ce.Kind == channels.NotReachable {
			if e.fallbackAt(ctx, m, now) != nil { // the next rung is due at once
				t := now
				o.fb = &t
			}
		}
		o.blocked = ce.Kind == channels.Blocked
		e.cfg.Metrics.Message(m.Channel, "failed")
	}
	byChannel := map[string][]int{}
	var order []string
	for i, j := range jobs {
		if _, ok := byChannel[j.m.Channel]; !ok {
			order = append(order, j.m.Channel)
		}
		byChannel[j.m.Channel] = append(byChannel[j.m.Channel], i)
	}
	for _, ch := range order {
		idx := byChannel[ch]
		s, ok := e.senders[channels.Kind(ch)]
		if !ok {
			for _, i := range idx {
				record(i, channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "no_sender", Message: "no sender configured for channel " + ch})
			}
			continue
		}
		if bs, ok := e.batchSender(ch); ok {
			msgs := make([]channels.Message, len(idx))
			for k, i := range idx {
				msgs[k] = jobs[i].msg
			}
			start := time.Now()
			rs, errs := bs.SendBatch(ctx, msgs)
			e.cfg.Metrics.Sent(ch, time.Since(start))
			for k, i := range idx {
				record(i, rs[k], errs[k])
			}
			continue
		}
		for _, i := range idx {
			m := jobs[i].m
			if err := e.cfg.Limiter.Wait(ctx, ch, m.Account, m.Address); err != nil {
				return nil, err
			}
			start := time.Now()
			r, err := s.Send(ctx, jobs[i].msg)
			e.cfg.Metrics.Sent(ch, time.Since(start))
			record(i, r, err)
		}
	}
	return outs, nil
}

// blockIdentities blocks the identities whose sends failed as blocked.
func (e *Engine) blockIdentities(ctx context.Context, q db.Executor, outs []outcome, now time.Time) error {
	for _, o := range outs {
		if !o.blocked {
			continue
		}
		proof := consent.Proof{Reason: "send_blocked", MessageKey: o.m.Key}
		if err := e.blockIdentity(ctx, q, channels.Kind(o.m.Channel), o.m.Address, now, proof); err != nil {
			return err
		}
	}
	return nil
}

const qLockPending = `
SELECT id, idempotency_key, subscriber_id, coalesce(run_id, 0) AS run_id, step_id, campaign_id, campaign_version,
       topic, channel, account, address, attempt, status, content, tries
  FROM messages WHERE idempotency_key = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED`

// deliver sends the pending messages recorded under keys inside tx: it locks
// them, takes the subscribers' shared consent locks, re-reads consent, sends,
// and records each outcome (and the fallback check time). Messages locked by
// another worker are absent from the result; messages no longer pending are
// done.
func (e *Engine) deliver(ctx context.Context, tx *sqlx.Tx, keys []string) (map[string]deliverResult, error) {
	var msgs []msgRow
	if err := tx.SelectContext(ctx, &msgs, qLockPending, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("lock messages: %w", err)
	}
	res := make(map[string]deliverResult, len(msgs))
	var pending []msgRow
	for _, m := range msgs {
		if m.Status != "pending" {
			res[m.Key] = deliverResult{kind: resultDone}
			continue
		}
		pending = append(pending, m)
	}
	if len(pending) == 0 {
		return res, nil
	}
	subs := make([]int64, len(pending))
	rcpts := make([]consent.Recipient, len(pending))
	for i, m := range pending {
		subs[i] = m.Sub
		rcpts[i] = consent.Recipient{SubscriberID: m.Sub, Channel: channels.Kind(m.Channel), Address: m.Address, Topic: consent.Topic(m.Topic)}
	}
	if err := lockSubscribersShared(ctx, tx, subs); err != nil {
		return nil, err
	}
	allowed, err := consent.Sendable(ctx, tx, rcpts)
	if err != nil {
		return nil, err
	}
	now := e.clock.Now()
	var outs []outcome
	var jobs []job
	for i, m := range pending {
		if !allowed[i] {
			outs = append(outs, outcome{id: m.ID, m: m, status: "skipped", r: "no_consent", at: now, tries: m.Tries})
			res[m.Key] = deliverResult{kind: resultDone}
			e.cfg.Metrics.Message(m.Channel, "skipped")
			continue
		}
		var c Content
		_ = json.Unmarshal(m.Content, &c)
		jobs = append(jobs, job{m: m, msg: message(m.Key, m.Channel, m.Account, m.Address, c)})
	}
	sent, err := e.sendJobs(ctx, jobs, now, lastAttempt(ctx))
	if err != nil {
		return nil, err
	}
	for _, o := range sent {
		res[o.m.Key] = deliverResult{kind: o.kind, after: o.after}
	}
	outs = append(outs, sent...)
	if err := updateMessages(ctx, tx, outs); err != nil {
		return nil, err
	}
	if err := e.blockIdentities(ctx, tx, outs, now); err != nil {
		return nil, err
	}
	return res, nil
}

// fallbackAt is when message m sent at `at` must be checked against its
// fallback rung, or nil when its campaign has no further rung.
func (e *Engine) fallbackAt(ctx context.Context, m msgRow, at time.Time) *time.Time {
	if m.CampaignID == "" {
		return nil
	}
	def, err := e.definition(ctx, m.CampaignID, m.CampaignVersion)
	if err != nil || m.Attempt >= len(def.Settings.Fallback) {
		return nil
	}
	t := at.Add(def.Settings.Fallback[m.Attempt].Within.D())
	return &t
}

func updateMessages(ctx context.Context, q db.Executor, outs []outcome) error {
	if len(outs) == 0 {
		return nil
	}
	n := len(outs)
	ids, tries := make([]int64, n), make([]int64, n)
	st, pid, ek, ec, em, rs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at, fb := make([]*time.Time, n), make([]*time.Time, n)
	for i, o := range outs {
		t := o.at
		ids[i], st[i], pid[i], at[i], ek[i], ec[i], em[i], rs[i], fb[i] = o.id, o.status, o.pid, &t, o.ek, o.ec, o.em, o.r, o.fb
		tries[i] = int64(o.tries)
	}
	if _, err := q.ExecContext(ctx, qUpdateMessages, pq.Array(ids), pq.Array(st), pq.Array(pid), pq.Array(timeArray(at)),
		pq.Array(ek), pq.Array(ec), pq.Array(em), pq.Array(rs), pq.Array(timeArray(fb)), pq.Array(tries)); err != nil {
		return fmt.Errorf("record message outcomes: %w", err)
	}
	return nil
}

// blockIdentity marks the identity blocked and revokes consent for that
// channel (consent.Block).
func (e *Engine) blockIdentity(ctx context.Context, q db.Executor, ch channels.Kind, address string, at time.Time, proof consent.Proof) error {
	return consent.Block(ctx, q, ch, address, at, proof)
}
