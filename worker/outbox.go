package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/templates"
)

// The outbox: compose makes every message the engine sends (a step, a
// fallback rung, a manager's reply) and sendJobs is the one place that hands
// messages to a provider, so rate limits, metrics, idempotency keys and
// blocked-identity handling apply to every send.

// draft is what a message is made from: a campaign template rendered for a
// subscriber with the run's payload, or a person's words (def nil).
type draft struct {
	def      *campaigns.Definition
	version  string
	template string
	sub      templates.Subscriber
	runCtx   []byte // the run's context (see payloadOf)
	// key and step name the message, for its tracked links.
	key, step string

	text string // a manager's words
	// tpl and tag carry a manager's reply outside a 24h window (an approved
	// WhatsApp template, Messenger's HUMAN_AGENT tag), as the inbox decided.
	tpl *channels.TemplateRef
	tag string
}

// compose makes the content of a message on ch. Steps and fallback rungs
// render the same template with the same data (subscriber, the run's
// payload), so a rung can use every field its step uses; their links become
// tracked redirects (Config.Links) and their pay buttons recorded invoices
// (Config.Payments). A manager's words are sent as written:
// a person's reply is not a campaign's, and has no step to count a click for.
func (e *Engine) compose(ctx context.Context, d draft, ch channels.Kind, now time.Time) (templates.Rendered, error) {
	if d.def == nil {
		return templates.Rendered{Channel: ch, Text: d.text, Format: channels.Plain, Template: d.tpl, Tag: d.tag}, nil
	}
	r, err := e.cfg.Renderer.Render(d.version, d.def, d.template, ch, templates.Data{Subscriber: d.sub,
		Payload: payloadOf(d.runCtx), Now: now, CampaignID: d.def.ID})
	if err == nil && e.cfg.Links != nil {
		r, err = e.cfg.Links.Rewrite(ctx, d.def, links.Message{Key: d.key, SubscriberID: d.sub.ID, Version: d.version,
			StepID: d.step, Channel: ch}, r)
	}
	if err == nil && e.cfg.Payments != nil {
		r, err = e.cfg.Payments.Issue(ctx, payments.Message{Key: d.key, SubscriberID: d.sub.ID, CampaignID: d.def.ID,
			Version: d.version, StepID: d.step, Channel: ch}, r)
	}
	return r, err
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

// job is one message for a provider; retry, when set, is the same message
// with its template or tag, sent once when msg is refused as window_closed.
type job struct {
	m     msgRow
	msg   channels.Message
	retry *channels.Message
}

// sendJobs hands the jobs to their channels — a batch sender at once when its
// channel is not rate-limited, otherwise each at its slot from the limiter
// (sendPaced), as p allows — and returns each job's outcome, in order. final
// forces transient failures to count as the last try.
func (e *Engine) sendJobs(ctx context.Context, jobs []job, now time.Time, final bool, p pacing) ([]outcome, error) {
	// The claim's transaction waits while providers answer: its lease's
	// keepalive may use it meanwhile, and each group of calls first checks
	// that the lease still holds (lease.go).
	l := leaseOf(ctx)
	l.release()
	defer l.acquire()
	outs := make([]outcome, len(jobs))
	var again []int // refused as window_closed, to be retried with their template or tag
	retried := map[int]bool{}
	// Multi-part messages resume after the parts earlier tries delivered (parts.go).
	if err := e.resumeParts(ctx, jobs); err != nil {
		return nil, err
	}
	var parts partsLog
	defer func() {
		if err := e.saveParts(ctx, &parts, now); err != nil {
			e.log.ErrorContext(ctx, "message parts not recorded: a retry repeats them", "error", err)
		}
	}()
	record := func(i int, r channels.Result, err error) {
		m := jobs[i].m
		parts.note(jobs[i], err)
		o := outcome{id: m.ID, m: m, tries: m.Tries, at: now}
		defer func() { outs[i] = o }()
		if err == nil {
			// The engine's clock, not the provider's: fallback checks are
			// timed from sent_at on the same clock.
			o.status, o.pid, o.fb = "sent", r.ProviderID, e.fallbackAt(ctx, m, now)
			e.cfg.Metrics.Message(m.Channel, "sent")
			return
		}
		if errors.Is(err, errConsentLocksLost) {
			// Not handed to the provider: the message yields as to an
			// opt-out under way, and its run comes back after the re-read
			// can see it.
			o.kind, o.status, o.after = resultLater, "pending", optOutYield
			return
		}
		var ce *channels.Error
		if !errors.As(err, &ce) {
			ce = &channels.Error{Kind: channels.Transient, Message: err.Error()}
		}
		if ce.Kind == channels.WindowClosed && jobs[i].retry != nil && !retried[i] {
			again = append(again, i)
			return
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
		// Not reachable here now (a refused window-closed retry included,
		// e.g. a template WhatsApp does not know): the next rung is due at once.
		if ce.Kind == channels.Blocked || ce.Kind == channels.NotReachable || ce.Kind == channels.WindowClosed || retried[i] {
			if e.fallbackAt(ctx, m, now) != nil {
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
		if _, ok := e.senders[channels.Kind(ch)]; !ok {
			for _, i := range idx {
				record(i, channels.Result{}, noSender(ch))
			}
			continue
		}
		if bs, ok := e.batchSender(ch); ok {
			if err := l.check(ctx); err != nil {
				return nil, err
			}
			msgs := make([]channels.Message, len(idx))
			for k, i := range idx {
				msgs[k] = jobs[i].msg
			}
			rs, errs := e.sendChunks(ctx, bs, ch, msgs)
			for k, i := range idx {
				record(i, rs[k], errs[k])
			}
			continue
		}
		if err := l.check(ctx); err != nil {
			return nil, err
		}
		rs, err := e.sendPaced(ctx, ch, jobs, idx, p)
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			record(i, rs[k].r, rs[k].err)
		}
	}
	// The provider said the window closed (our record of the customer's last
	// message was stale): each such message goes once more, as the
	// campaign's template or tag, and its row says why. The retry takes no
	// new limiter slot: the refused send reached nobody and used none of
	// the provider's per-recipient budget, and waiting for the chat's next
	// slot would leave the message pending, only to be refused again.
	retry := again
	for _, i := range retry {
		if err := l.check(ctx); err != nil {
			return nil, err
		}
		jobs[i].msg, retried[i] = *jobs[i].retry, true
		e.log.InfoContext(ctx, "window closed, retrying with the template or tag", "message_key", jobs[i].m.Key, "channel", jobs[i].m.Channel)
		r, err := e.call(ctx, jobs[i].m.Channel, jobs[i].msg)
		record(i, r, err)
		outs[i].r = ReasonWindowClosedRetried
	}
	return outs, nil
}

// ReasonWindowClosedRetried is the reason recorded on a message the provider
// refused as window_closed and that was sent again with its template or tag.
const ReasonWindowClosedRetried = "window_closed_retried_with_template"

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

// SendText sends a person's words (a manager's reply) through the outbox and
// records it as a message of topic service without a campaign; it implements
// inbox.Outbox. The row is recorded pending before the provider call, so a
// resubmitted form (the same key) sends nothing. A reply is not queued behind
// a provider's rate limit: a limited or failed send is recorded failed and
// returned as a *channels.Error. A reply waits at most replyWait for its
// slot in the provider's rate limit (replyPacing).
func (e *Engine) SendText(ctx context.Context, subscriberID int64, m channels.Message) (int64, bool, error) {
	if m.IdempotencyKey == "" || m.Channel == "" || m.To == "" {
		return 0, false, errors.New("worker: a person's message needs an idempotency key, a channel and an address")
	}
	now := e.clock.Now()
	c, err := e.compose(ctx, draft{text: m.Text, tpl: m.Template, tag: m.Tag}, m.Channel, now)
	if err != nil {
		return 0, false, err
	}
	content, err := json.Marshal(c)
	if err != nil {
		return 0, false, fmt.Errorf("worker: encode message: %w", err)
	}
	var id int64
	err = e.db.GetContext(ctx, &id, qInsertPersonMessage, m.IdempotencyKey, subscriberID, string(m.Channel), m.To, content, now, channels.Account(m.Account))
	if db.IsNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("worker: record message: %w", err)
	}
	row := msgRow{ID: id, Key: m.IdempotencyKey, Sub: subscriberID, Topic: string(campaigns.TopicService),
		Channel: string(m.Channel), Account: channels.Account(m.Account), Address: m.To}
	outs, err := e.sendJobs(ctx, []job{newJob(row, c)}, now, true, replyPacing)
	if err != nil {
		return id, false, err
	}
	o := &outs[0]
	if o.status == "pending" { // rate limited: no slot within replyWait, or the provider's 429
		o.status, o.ek, o.em = "failed", string(channels.RateLimited), "rate limited: try again in a few seconds"
	}
	if err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		if err := updateMessages(ctx, tx, outs); err != nil {
			return err
		}
		return e.blockIdentities(ctx, tx, outs, now)
	}); err != nil {
		return id, false, err
	}
	if o.status != "sent" {
		return id, true, &channels.Error{Kind: channels.ErrorKind(o.ek), Code: o.ec, Message: o.em}
	}
	return id, true, nil
}
