package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/internal/db"
)

// Reply is what the runtime learns about a reply that resumes a run.
type Reply struct {
	Text      string
	Payload   string
	Sentiment classify.Sentiment
	Rule      string
	At        time.Time
}

// Resumer is the flow runtime as the inbox needs it; the worker implements it.
type Resumer interface {
	// ResumeReply moves run, if it still waits in the wait_reply step with
	// sequence seq, to gotoStep; gotoStep "" means the step's fallback for an
	// unmatched reply, a hand-off to the inbox (the run pauses). It reports
	// false when the run no longer waits there (its timeout won the race).
	ResumeReply(ctx context.Context, runID int64, seq int, gotoStep string, r Reply) (bool, error)
	// ResumeAfterHandoff continues a run paused by a hand-off, or ends it.
	ResumeAfterHandoff(ctx context.Context, runID int64, end bool) error
}

// Router routes customer replies; its Reply method is the inbound sink's
// reply handler.
type Router struct {
	db       *sqlx.DB
	classify *classify.Classifier
	resumer  Resumer
	log      *slog.Logger
	// HandoffQueue is where unmatched replies and late replies go.
	HandoffQueue string

	versions *campaigns.Versions
}

// definition returns a campaign version (cached: versions are immutable).
func (r *Router) definition(ctx context.Context, campaignID, version string) (*campaigns.Definition, error) {
	d, err := r.versions.Get(ctx, campaignID, version)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return d, nil
}

// NewRouter returns a router.
func NewRouter(d *sqlx.DB, c *classify.Classifier, r Resumer, log *slog.Logger) *Router {
	return &Router{db: d, classify: c, resumer: r, log: log, HandoffQueue: "general", versions: campaigns.NewVersions(d)}
}

type waitingRun struct {
	ID         int64  `json:"id"`
	CampaignID string `json:"campaign_id"`
	Version    string `json:"campaign_version"`
	StepID     string `json:"step_id"`
	StepSeq    int    `json:"step_seq"`
}

// sender is the subscriber behind a reply, as qSender finds them.
type sender struct {
	SubscriberID   int64         `db:"subscriber_id"`
	ConversationID sql.NullInt64 `db:"conversation_id"` // the open one
	WaitingRuns    []byte        `db:"waiting_runs"`    // JSON array of waitingRun, newest first
}

// Reply handles one customer text or button press.
func (r *Router) Reply(ctx context.Context, ev channels.Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	snd, err := r.sender(ctx, ev)
	if err != nil {
		return err
	}
	rec := replyRow{ev: ev, subscriberID: snd.SubscriberID}
	// A customer already talking to a manager talks to the manager.
	if snd.ConversationID.Valid {
		rec.result = r.classify.Classify(classify.Input{Payload: ev.Payload, Text: ev.Text})
		rec.outcome = "inbox"
		return r.toConversation(ctx, rec, snd.ConversationID.Int64, "", "")
	}

	runs := []waitingRun{}
	if err := json.Unmarshal(snd.WaitingRuns, &runs); err != nil {
		return fmt.Errorf("inbox: waiting runs: %w", err)
	}
	for _, run := range runs {
		def, err := r.definition(ctx, run.CampaignID, run.Version)
		if err != nil {
			return err
		}
		step := findStep(def, run.StepID)
		if step == nil || step.WaitReply == nil {
			continue
		}
		res := r.classify.Route(step.WaitReply, ev.Payload, ev.Text)
		rec.result, rec.run = res, &run
		gotoStep := res.Goto
		ok, err := r.resumer.ResumeReply(ctx, run.ID, run.StepSeq, gotoStep, Reply{
			Text: ev.Text, Payload: ev.Payload, Sentiment: res.Sentiment, Rule: res.Rule, At: ev.At})
		if err != nil {
			return fmt.Errorf("inbox: resume run %d: %w", run.ID, err)
		}
		if !ok { // the timeout (or another reply) moved the run on first
			rec.outcome = "late"
			return r.toConversation(ctx, rec, 0, "late_reply", "")
		}
		if gotoStep == "" {
			rec.outcome = "on_other"
			return r.toConversation(ctx, rec, 0, "unmatched", "Reply did not match any branch", run.ID)
		}
		rec.outcome, rec.gotoStep = "branch", gotoStep
		return r.store(ctx, r.db, rec, nil)
	}
	// Nobody waits for this reply: a person will read it.
	rec.result = r.classify.Classify(classify.Input{Payload: ev.Payload, Text: ev.Text})
	rec.outcome = "inbox"
	reason := "unmatched"
	if rec.result.Sentiment == classify.Negative {
		reason = "negative_reply"
	}
	return r.toConversation(ctx, rec, 0, reason, "")
}

func findStep(def *campaigns.Definition, id string) *campaigns.Step {
	for i := range def.Steps {
		if def.Steps[i].ID == id {
			return &def.Steps[i]
		}
	}
	return nil
}

// sender finds the sender, creating an anonymous subscriber for a sender
// who wrote without an opt-in start (managers can still answer), and opens
// the channel's 24h window.
func (r *Router) sender(ctx context.Context, ev channels.Event) (sender, error) {
	var s sender
	err := r.db.GetContext(ctx, &s, qSender, ev.Channel, ev.From, ev.At)
	if db.IsNoRows(err) {
		if _, err := r.db.ExecContext(ctx, qNewAnon, ev.Channel, ev.From, ev.Name, ev.Locale); err != nil {
			return s, fmt.Errorf("inbox: sender %s: %w", ev.Channel, err)
		}
		err = r.db.GetContext(ctx, &s, qSender, ev.Channel, ev.From, ev.At)
	}
	if err != nil {
		return s, fmt.Errorf("inbox: sender %s: %w", ev.Channel, err)
	}
	return s, nil
}

type replyRow struct {
	ev           channels.Event
	subscriberID int64
	run          *waitingRun
	result       classify.Result
	outcome      string
	gotoStep     string
}

func (r *Router) store(ctx context.Context, q db.Executor, rec replyRow, convID *int64) error {
	var runID sql.NullInt64
	var campaignID, version, stepID string
	if rec.run != nil {
		runID = sql.NullInt64{Int64: rec.run.ID, Valid: true}
		campaignID, version, stepID = rec.run.CampaignID, rec.run.Version, rec.run.StepID
	}
	_, err := q.ExecContext(ctx, qInsertReply, rec.ev.Channel, rec.ev.ProviderEventID, rec.subscriberID, runID,
		campaignID, version, stepID, rec.ev.Text, rec.ev.Payload, string(rec.result.Sentiment),
		rec.result.Rule, rec.result.Detail, rec.outcome, rec.gotoStep, convID, rec.ev.At, rec.ev.At.Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("inbox: store reply: %w", err)
	}
	return nil
}

// toConversation opens (or joins) the subscriber's conversation and adds the
// customer's words to it, with the reply row, in one transaction.
func (r *Router) toConversation(ctx context.Context, rec replyRow, convID int64, reason, note string, pausedRuns ...int64) error {
	return db.WithTx(ctx, r.db, func(tx *sqlx.Tx) error {
		if convID == 0 {
			var err error
			convID, err = open(ctx, tx, Handoff{SubscriberID: rec.subscriberID, Channel: rec.ev.Channel, Queue: r.HandoffQueue,
				Reason: reason, Note: note, RunIDs: pausedRuns, At: rec.ev.At})
			if err != nil {
				return err
			}
		}
		text := rec.ev.Text
		if text == "" {
			text = "[button: " + rec.ev.Payload + "]"
		}
		b, _ := json.Marshal(map[string]any{"conversation_id": convID, "kind": "customer"})
		if _, err := tx.ExecContext(ctx, qCustomerItem, convID, text, rec.ev.At, string(b)); err != nil {
			return fmt.Errorf("inbox: add item: %w", err)
		}
		return r.store(ctx, tx, rec, &convID)
	})
}

// Handoff asks for a person: a handoff step, a negative or unmatched reply.
type Handoff struct {
	SubscriberID int64
	Channel      channels.Kind
	Queue        string
	Reason       string // handoff | negative_reply | unmatched | late_reply
	Note         string
	RunIDs       []int64 // runs paused until the conversation is resolved
	At           time.Time
}

// Open opens the subscriber's conversation or joins the open one, adding the
// note and paused runs. q may be a transaction (the worker's hand-off step).
func Open(ctx context.Context, q db.Executor, h Handoff) (int64, error) {
	return open(ctx, q, h)
}

func open(ctx context.Context, q db.Executor, h Handoff) (int64, error) {
	if h.At.IsZero() {
		h.At = time.Now()
	}
	if h.RunIDs == nil {
		h.RunIDs = []int64{}
	}
	var id int64
	if err := sqlx.GetContext(ctx, q, &id, qOpen, h.SubscriberID, h.Channel, h.Queue, h.Reason, h.Note,
		pq.Int64Array(h.RunIDs), h.At); err != nil {
		return 0, fmt.Errorf("inbox: open conversation: %w", err)
	}
	return id, nil
}

func notify(ctx context.Context, q db.Executor, convID int64, kind string) error {
	b, _ := json.Marshal(map[string]any{"conversation_id": convID, "kind": kind})
	if _, err := q.ExecContext(ctx, qNotify, string(b)); err != nil {
		return fmt.Errorf("inbox: notify: %w", err)
	}
	return nil
}
