package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
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

// intent is a message row to insert.
type intent struct {
	Key, Channel, Address, Status, Reason, ErrKind, ErrMsg string
	Sub, Run                                               int64
	Attempt                                                int
	Content                                                Content
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
}

func kinds(names []string) []channels.Kind {
	out := make([]channels.Kind, len(names))
	for i, n := range names {
		out[i] = channels.Kind(n)
	}
	return out
}

func insertIntents(ctx context.Context, q db.Executor, def *campaigns.Definition, version, stepID string, ins []intent, now time.Time) error {
	if len(ins) == 0 {
		return nil
	}
	n := len(ins)
	keys, chs, addrs, sts, cs, rs, eks, ems := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	subs, runs, atts := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, in := range ins {
		b, _ := json.Marshal(in.Content)
		keys[i], subs[i], runs[i], chs[i], addrs[i], atts[i], sts[i], cs[i], rs[i], eks[i], ems[i] =
			in.Key, in.Sub, in.Run, in.Channel, in.Address, int64(in.Attempt), in.Status, string(b), in.Reason, in.ErrKind, in.ErrMsg
	}
	_, err := q.ExecContext(ctx, qInsertMessages, pq.Array(keys), pq.Array(subs), def.ID, version, stepID,
		string(def.Topic), now, pq.Array(runs), pq.Array(chs), pq.Array(addrs), pq.Array(atts), pq.Array(sts),
		pq.Array(cs), pq.Array(rs), pq.Array(eks), pq.Array(ems))
	if err != nil {
		return fmt.Errorf("insert messages: %w", err)
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

// sendStep works a batch of runs at a send step in chunks.
func (e *Engine) sendStep(ctx context.Context, def *campaigns.Definition, p stepPayload, idx int) error {
	var retry error
	for start := 0; start < len(p.Runs); start += e.cfg.ChunkSize {
		chunk := p
		chunk.Runs = p.Runs[start:min(start+e.cfg.ChunkSize, len(p.Runs))]
		if err := e.sendChunk(ctx, def, chunk, idx); err != nil {
			if !errors.Is(err, errRetry) {
				return err
			}
			retry = err
		}
	}
	return retry
}

func (e *Engine) sendChunk(ctx context.Context, def *campaigns.Definition, p stepPayload, idx int) error {
	step := def.Steps[idx]
	next := nextOf(def, idx)
	now := e.clock.Now()
	var toSend []string           // message keys for phase 2
	keyRun := map[string]runRow{} // message key → run
	// Phase 1: decide, render and record intents.
	err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		runs, err := lockRuns(ctx, tx, p, []string{StateActive}, now)
		if err != nil || len(runs) == 0 {
			return err
		}
		keys := make([]string, len(runs))
		for i, r := range runs {
			keys[i] = MessageKey(r.ID, step.ID, r.Seq, 0)
		}
		existing, err := messagesByKey(ctx, tx, keys)
		if err != nil {
			return err
		}
		var fresh []runRow
		var subIDs []int64
		var trs []transition
		for i, r := range runs {
			switch {
			case existing[keys[i]].ID != 0: // recorded by an earlier attempt: send it (again) in phase 2
				toSend = append(toSend, keys[i])
				keyRun[keys[i]] = r
			case r.Holdout:
				trs = append(trs, settle(def, r.ID, r.Seq, next, now, time.UTC))
			default:
				fresh = append(fresh, r)
				subIDs = append(subIDs, r.Sub)
			}
		}
		if len(fresh) == 0 {
			_, err := e.applyTransitions(ctx, tx, trs)
			return err
		}
		cands := kinds(def.Settings.Channels)
		decs, err := e.cfg.Gate.Decide(ctx, tx, subIDs, def, step.Send.Template, cands, now)
		if err != nil {
			return err
		}
		subs, err := loadSubscribers(ctx, tx, subIDs)
		if err != nil {
			return err
		}
		var ins []intent
		var defIDs, defSeqs []int64
		var defAts []*time.Time
		for _, r := range fresh {
			sub := subs[r.Sub]
			key := MessageKey(r.ID, step.ID, r.Seq, 0)
			d := decs[r.Sub]
			in := intent{Key: key, Sub: r.Sub, Run: r.ID, Channel: string(d.Channel), Address: d.Address}
			if in.Channel == "" && len(cands) > 0 {
				in.Channel = string(cands[0])
			}
			switch {
			case d.Send:
				c, err := e.cfg.Renderer.Render(p.Version, def, step.Send.Template, d.Channel,
					templates.Data{Subscriber: sub.templateSubscriber(), Payload: payloadOf(r.Context), Now: now, CampaignID: def.ID})
				if err != nil {
					in.Status, in.ErrKind, in.ErrMsg = "failed", string(channels.Invalid), err.Error()
					trs = append(trs, settle(def, r.ID, r.Seq, next, now, sub.Location()))
					e.cfg.Metrics.Message(in.Channel, "failed")
				} else {
					in.Status, in.Content = "pending", contentOf(c)
					toSend = append(toSend, key)
					keyRun[key] = r
				}
				ins = append(ins, in)
			case !d.DeferUntil.IsZero():
				t := d.DeferUntil
				defIDs, defSeqs, defAts = append(defIDs, r.ID), append(defSeqs, int64(r.Seq)), append(defAts, &t)
			default:
				in.Status, in.Reason = "skipped", d.Reason
				ins = append(ins, in)
				trs = append(trs, settle(def, r.ID, r.Seq, next, now, sub.Location()))
				e.cfg.Metrics.Message(in.Channel, "skipped")
			}
		}
		if err := insertIntents(ctx, tx, def, p.Version, step.ID, ins, now); err != nil {
			return err
		}
		if len(defIDs) > 0 {
			if _, err := tx.ExecContext(ctx, qDefer, pq.Array(defIDs), pq.Array(defSeqs), pq.Array(timeArray(defAts))); err != nil {
				return fmt.Errorf("defer runs: %w", err)
			}
		}
		_, err = e.applyTransitions(ctx, tx, trs)
		return err
	})
	if err != nil || len(toSend) == 0 {
		return err
	}
	// Phase 2: consent re-read under lock, send, record, move the runs — in
	// transactions of at most sendTx messages, which bounds the advisory locks
	// one transaction holds (the lock table is shared by the whole server).
	var retry bool
	for start := 0; start < len(toSend); start += sendTx {
		part := toSend[start:min(start+sendTx, len(toSend))]
		if err := e.sendPart(ctx, def, p, idx, part, keyRun, now, &retry); err != nil {
			return err
		}
	}
	if retry {
		return errRetry
	}
	return nil
}

// sendTx is the number of messages sent in one phase-2 transaction.
const sendTx = 100

func (e *Engine) sendPart(ctx context.Context, def *campaigns.Definition, p stepPayload, idx int, toSend []string,
	keyRun map[string]runRow, now time.Time, retry *bool) error {
	step := def.Steps[idx]
	next := nextOf(def, idx)
	return db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		p2 := p
		p2.Runs = p2.Runs[:0:0]
		for _, k := range toSend {
			r := keyRun[k]
			p2.Runs = append(p2.Runs, [2]int64{r.ID, int64(r.Seq)})
		}
		runs, err := lockRuns(ctx, tx, p2, []string{StateActive}, now)
		if err != nil || len(runs) == 0 {
			return err
		}
		keys := make([]string, len(runs))
		byKey := map[string]runRow{}
		for i, r := range runs {
			keys[i] = MessageKey(r.ID, step.ID, r.Seq, 0)
			byKey[keys[i]] = r
		}
		res, err := e.deliver(ctx, tx, keys)
		if err != nil {
			return err
		}
		locs := map[int64]*time.Location{}
		if nextNeedsZone(def, next) {
			subIDs := make([]int64, len(runs))
			for i, r := range runs {
				subIDs[i] = r.Sub
			}
			subs, err := loadSubscribers(ctx, tx, subIDs)
			if err != nil {
				return err
			}
			for id, s := range subs {
				locs[id] = s.Location()
			}
		}
		var trs []transition
		var defIDs, defSeqs []int64
		var defAts []*time.Time
		for _, k := range keys {
			r := byKey[k]
			out, ok := res[k]
			switch {
			case !ok:
				// locked by another worker, which will finish it
			case out.kind == resultDone:
				loc := locs[r.Sub]
				if loc == nil {
					loc = time.UTC
				}
				trs = append(trs, settle(def, r.ID, r.Seq, next, now, loc))
			case out.kind == resultLater:
				t := now.Add(out.after)
				defIDs, defSeqs, defAts = append(defIDs, r.ID), append(defSeqs, int64(r.Seq)), append(defAts, &t)
			case out.kind == resultRetry:
				*retry = true
			}
		}
		if len(defIDs) > 0 {
			if _, err := tx.ExecContext(ctx, qDefer, pq.Array(defIDs), pq.Array(defSeqs), pq.Array(timeArray(defAts))); err != nil {
				return fmt.Errorf("defer runs: %w", err)
			}
		}
		_, err = e.applyTransitions(ctx, tx, trs)
		return err
	})
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
	resultRetry                   // transient: retry the task with backoff
)

type deliverResult struct {
	kind  resultKind
	after time.Duration
	msg   msgRow
	sent  bool
}

type outcome struct {
	id                         int64
	status, pid, ek, ec, em, r string
	at                         time.Time
	fb                         *time.Time
}

// lastAttempt reports whether this is the task's final try.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}

const qLockPending = `
SELECT id, idempotency_key, subscriber_id, coalesce(run_id, 0) AS run_id, step_id, campaign_id, campaign_version,
       topic, channel, account, address, attempt, status, content
  FROM messages WHERE idempotency_key = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED`

// deliver sends the pending messages with keys inside tx: it locks them,
// takes the subscribers' shared consent locks, re-reads consent, sends, and
// records each outcome (and the fallback check time). Messages locked by
// another worker are absent from the result.
func (e *Engine) deliver(ctx context.Context, tx *sqlx.Tx, keys []string) (map[string]deliverResult, error) {
	var msgs []msgRow
	if err := tx.SelectContext(ctx, &msgs, qLockPending, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("lock messages: %w", err)
	}
	res := make(map[string]deliverResult, len(msgs))
	var pending []msgRow
	for _, m := range msgs {
		if m.Status != "pending" {
			res[m.Key] = deliverResult{kind: resultDone, msg: m}
			continue
		}
		pending = append(pending, m)
	}
	if len(pending) == 0 {
		return res, nil
	}
	n := len(pending)
	idx, subs, chs, addrs, topics := make([]int64, n), make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	for i, m := range pending {
		idx[i], subs[i], chs[i], addrs[i], topics[i] = int64(i), m.Sub, m.Channel, m.Address, m.Topic
	}
	sorted := append([]int64(nil), subs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	if _, err := tx.ExecContext(ctx, qLockSubscribersShared, pq.Array(sorted)); err != nil {
		return nil, fmt.Errorf("consent locks: %w", err)
	}
	var checks []struct {
		I  int  `db:"i"`
		OK bool `db:"ok"`
	}
	if err := tx.SelectContext(ctx, &checks, qRecheck, pq.Array(idx), pq.Array(subs), pq.Array(chs), pq.Array(addrs), pq.Array(topics)); err != nil {
		return nil, fmt.Errorf("consent re-read: %w", err)
	}
	allowed := make([]bool, n)
	for _, c := range checks {
		allowed[c.I] = c.OK
	}
	now := e.clock.Now()
	var outs []outcome
	var blocked []msgRow
	final := lastAttempt(ctx)
	// Build the provider messages.
	type job struct {
		m   msgRow
		msg channels.Message
	}
	byChannel := map[string][]job{}
	var order []string
	for i, m := range pending {
		if !allowed[i] {
			outs = append(outs, outcome{id: m.ID, status: "skipped", r: "no_consent", at: now})
			res[m.Key] = deliverResult{kind: resultDone, msg: m}
			e.cfg.Metrics.Message(m.Channel, "skipped")
			continue
		}
		var c Content
		_ = json.Unmarshal(m.Content, &c)
		cm := channels.Message{IdempotencyKey: m.Key, Channel: channels.Kind(m.Channel), Account: m.Account, To: m.Address,
			Text: c.Text, Format: c.Format, Subject: c.Subject, HTML: c.HTML, ImageURL: c.ImageURL, Buttons: c.Buttons,
			Template: c.Template, Tag: c.Tag, Correlation: strconv.FormatInt(m.ID, 10)}
		if _, ok := byChannel[m.Channel]; !ok {
			order = append(order, m.Channel)
		}
		byChannel[m.Channel] = append(byChannel[m.Channel], job{m, cm})
	}
	record := func(m msgRow, r channels.Result, err error) {
		if err == nil {
			// The engine's clock, not the provider's: fallback checks are
			// timed from sent_at on the same clock.
			at := now
			o := outcome{id: m.ID, status: "sent", pid: r.ProviderID, at: at}
			o.fb = e.fallbackAt(ctx, m, at)
			outs = append(outs, o)
			res[m.Key] = deliverResult{kind: resultDone, msg: m, sent: true}
			e.cfg.Metrics.Message(m.Channel, "sent")
			return
		}
		var ce *channels.Error
		if !errors.As(err, &ce) {
			ce = &channels.Error{Kind: channels.Transient, Message: err.Error()}
		}
		switch ce.Kind {
		case channels.RateLimited:
			after := ce.RetryAfter
			if after <= 0 {
				after = time.Second
			}
			res[m.Key] = deliverResult{kind: resultLater, after: after, msg: m}
			return
		case channels.Transient:
			if !final {
				res[m.Key] = deliverResult{kind: resultRetry, msg: m}
				e.log.WarnContext(ctx, "send failed, will retry", "message_id", m.ID, "channel", m.Channel, "error_code", ce.Code)
				return
			}
		}
		o := outcome{id: m.ID, status: "failed", at: now, ek: string(ce.Kind), ec: ce.Code, em: ce.Message}
		if ce.Kind == channels.Blocked || ce.Kind == channels.NotReachable {
			if e.fallbackAt(ctx, m, now) != nil { // the next rung is due at once
				t := now
				o.fb = &t
			}
		}
		if ce.Kind == channels.Blocked {
			blocked = append(blocked, m)
		}
		outs = append(outs, o)
		res[m.Key] = deliverResult{kind: resultDone, msg: m}
		e.cfg.Metrics.Message(m.Channel, "failed")
	}
	for _, ch := range order {
		jobs := byChannel[ch]
		s, ok := e.senders[channels.Kind(ch)]
		if !ok {
			for _, j := range jobs {
				record(j.m, channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "no_sender", Message: "no sender configured for channel " + ch})
			}
			continue
		}
		if bs, ok := s.(BatchSender); ok && !e.cfg.Limiter.Limited(ch) {
			msgs := make([]channels.Message, len(jobs))
			for i, j := range jobs {
				msgs[i] = j.msg
			}
			start := time.Now()
			rs, errs := bs.SendBatch(ctx, msgs)
			e.cfg.Metrics.Sent(ch, time.Since(start))
			for i, j := range jobs {
				record(j.m, rs[i], errs[i])
			}
			continue
		}
		for _, j := range jobs {
			if err := e.cfg.Limiter.Wait(ctx, ch, j.m.Account, j.m.Address); err != nil {
				return nil, err
			}
			start := time.Now()
			r, err := s.Send(ctx, j.msg)
			e.cfg.Metrics.Sent(ch, time.Since(start))
			record(j.m, r, err)
		}
	}
	if err := updateMessages(ctx, tx, outs); err != nil {
		return nil, err
	}
	for _, m := range blocked {
		if err := e.blockIdentity(ctx, tx, channels.Kind(m.Channel), m.Address, now, map[string]any{"reason": "send_blocked", "message_id": m.ID}); err != nil {
			return nil, err
		}
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
	ids := make([]int64, n)
	st, pid, ek, ec, em, rs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at, fb := make([]*time.Time, n), make([]*time.Time, n)
	for i, o := range outs {
		t := o.at
		ids[i], st[i], pid[i], at[i], ek[i], ec[i], em[i], rs[i], fb[i] = o.id, o.status, o.pid, &t, o.ek, o.ec, o.em, o.r, o.fb
	}
	if _, err := q.ExecContext(ctx, qUpdateMessages, pq.Array(ids), pq.Array(st), pq.Array(pid), pq.Array(timeArray(at)),
		pq.Array(ek), pq.Array(ec), pq.Array(em), pq.Array(rs), pq.Array(timeArray(fb))); err != nil {
		return fmt.Errorf("record message outcomes: %w", err)
	}
	return nil
}

// blockIdentity marks the identity blocked and revokes consent for that
// channel (both topics), serialised per subscriber like every consent writer.
func (e *Engine) blockIdentity(ctx context.Context, q db.Executor, ch channels.Kind, address string, at time.Time, proof map[string]any) error {
	var subs []int64
	if err := q.SelectContext(ctx, &subs, qBlockIdentity, string(ch), address, at); err != nil {
		return fmt.Errorf("block identity: %w", err)
	}
	pb, _ := json.Marshal(proof)
	for _, s := range subs {
		if _, err := q.ExecContext(ctx, qConsentLock, s); err != nil {
			return fmt.Errorf("consent lock: %w", err)
		}
		if _, err := q.ExecContext(ctx, qRevokeConsentTopic, s, string(ch), pb); err != nil {
			return fmt.Errorf("revoke consent: %w", err)
		}
	}
	return nil
}
