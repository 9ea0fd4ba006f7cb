package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/policy"
	"github.com/nudge-engine/nudge/templates"
)

// Message rows: their keys, the row types and the set-based writes of the
// outbox. The SQL itself is in store.go.

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
	Key, Channel, Account, Address, Status, Reason, ErrKind, ErrCode, ErrMsg, ProviderID string
	Sub, Run                                                                             int64
	Attempt, Tries                                                                       int
	Content                                                                              templates.Rendered
	At                                                                                   time.Time  // sent_at or failed_at
	FallbackAt                                                                           *time.Time // when to check the fallback rung
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
	ErrKind         string `db:"error_kind"` // where the query reads it (fallback parents)
	// RunContext is the run's context where the query joins it (fallback
	// rungs compose with the run's payload, as its step did).
	RunContext []byte `db:"run_context"`
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
	ats, fbs, accs := make([]*time.Time, n), make([]*time.Time, n), make([]string, n)
	for i, in := range ins {
		accs[i] = channels.Account(in.Account)
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
		pq.Array(timeArray(ats)), pq.Array(timeArray(fbs)), pq.Array(accs))
	if err != nil {
		return fmt.Errorf("insert messages: %w", err)
	}
	return nil
}

// messageColumns are the columns copyIntents writes.
var messageColumns = []string{"idempotency_key", "subscriber_id", "campaign_id", "campaign_version", "run_id",
	"step_id", "topic", "channel", "account", "address", "attempt", "status", "content", "reason",
	"error_kind", "error_message", "error_code", "provider_id", "tries", "sent_at", "failed_at", "fallback_at", "created_at"}

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
		if _, err := st.ExecContext(ctx, in.Key, in.Sub, def.ID, version, in.Run, stepID, string(def.Topic), in.Channel, channels.Account(in.Account),
			in.Address, in.Attempt, in.Status, string(b), null(in.Reason), null(in.ErrKind), null(in.ErrMsg),
			null(in.ErrCode), null(in.ProviderID), in.Tries, sentAt, failedAt, fb, at); err != nil {
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

// updateMessages records the outcomes of messages that were recorded pending.
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

// message builds the provider message of a message row. The idempotency key
// doubles as the correlation the provider echoes back (Viber tracking_data,
// WhatsApp biz_opaque_callback_data): it is known before the row exists.
func message(key, ch, account, address string, c templates.Rendered) channels.Message {
	m := channels.Message{IdempotencyKey: key, Channel: channels.Kind(ch), Account: account, To: address,
		Text: c.Text, Format: c.Format, Subject: c.Subject, HTML: c.HTML, ImageURL: c.ImageURL, Images: c.Images, Document: c.Document, Buttons: c.Buttons,
		Template: c.Template, Tag: c.Tag, Correlation: key}
	if c.FreeForm {
		m.Template, m.Tag = nil, ""
	}
	return m
}

// newJob is the job sending m with content c. A free-form message that has
// a template or tag keeps it for one retry (sendJobs) when the provider says
// the 24h window has closed.
func newJob(m msgRow, c templates.Rendered) job {
	j := job{m: m, msg: message(m.Key, m.Channel, m.Account, m.Address, c)}
	if c.FreeForm && (c.Template != nil || c.Tag != "") {
		r := j.msg
		r.Template, r.Tag = c.Template, c.Tag
		j.retry = &r
	}
	return j
}

// windowed marks c free-form when d sends it inside the channel's open 24h
// window: only outside it do the template (WhatsApp) or tag (Messenger) go.
func windowed(c templates.Rendered, d policy.Decision) templates.Rendered {
	c.FreeForm = policy.HasWindow(d.Channel) && !d.OutsideWindow && (c.Template != nil || c.Tag != "")
	return c
}
