package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

// Runs is the flow runtime as the inbox needs it: the worker's Engine
// implements it, and the inbox decides where a run goes (a reply's branch, a
// hand-off, a resolve). Each move is one compare-and-set on the run's
// step_seq in q, the pool or the caller's transaction: a run that moved on
// first (its timeout, another reply) stays where it is and the move reports
// false.
type Runs interface {
	// MoveRun moves the run that is at seq to step to, entered as the engine
	// enters any step ("" ends the run), and adds note to the run's context.
	// due says the run is due now: call Wake once q has committed.
	MoveRun(ctx context.Context, q db.Executor, runID int64, seq int, to string, note map[string]any) (moved, due bool, err error)
	// MoveRead is MoveRun for a run the caller has read: def is its
	// campaign version, timeZone its subscriber's. One statement less.
	MoveRead(ctx context.Context, q db.Executor, runID int64, seq int, def *campaigns.Definition, timeZone, to string, note map[string]any) (moved, due bool, err error)
	// PauseRun pauses the run that is at seq, at its step, until a person
	// resolves its hand-off.
	PauseRun(ctx context.Context, q db.Executor, runID int64, seq int) (bool, error)
	// Wake asks the workers to take runs that became due.
	Wake(ctx context.Context)
}

// Router routes customer replies; its Reply method is the inbound sink's
// reply handler.
type Router struct {
	db       *sqlx.DB
	classify *classify.Classifier
	runs     Runs
	log      *slog.Logger
	now      func() time.Time
	// HandoffQueue is where unmatched replies and late replies go.
	HandoffQueue string
	// Media fetches the files customers send; nil keeps a note instead.
	Media Fetcher
	// MediaMax is the largest file kept (DefaultMediaMax when 0).
	MediaMax int64

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

// NewRouter returns a router on the engine's clock (now).
func NewRouter(d *sqlx.DB, c *classify.Classifier, r Runs, log *slog.Logger, now func() time.Time) *Router {
	return &Router{db: d, classify: c, runs: r, log: log, now: clock.NowOr(now), HandoffQueue: "general", versions: campaigns.NewVersions(d)}
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
	TimeZone       string        `db:"time_zone"`       // the subscriber's, for their runs' next steps
}

// errRoutedBefore rolls back a routing whose reply row is already there.
var errRoutedBefore = errors.New("inbox: reply routed before")

// Reply handles one customer text or button press. An event routed before
// (the inbound reconciler routes again an event whose claim ran out, or
// whose outcome was not recorded) changes nothing: the reply row, unique per
// provider event, is written last in the routing's transaction, and finding
// it there rolls the rest back (no second conversation or item).
func (r *Router) Reply(ctx context.Context, ev channels.Event) error {
	if err := r.reply(ctx, ev); err != nil && !errors.Is(err, errRoutedBefore) {
		return err
	}
	return nil
}

func (r *Router) reply(ctx context.Context, ev channels.Event) error {
	if ev.At.IsZero() { // the inbound sink stamps every event; a direct caller may not
		ev.At = r.now()
	}
	snd, err := r.sender(ctx, ev)
	if err != nil {
		return err
	}
	if err := r.saveMedia(ctx, ev, snd.SubscriberID); err != nil {
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
	if len(runs) == 0 {
		// A claim may be sending this subscriber's question right now: its
		// run reaches the wait_reply step when the claim commits, and a
		// button press can arrive before that (a rate-limited claim sends
		// for seconds). Wait for the runs a claim holds, then look again.
		again, err := r.afterClaims(ctx, ev, snd.SubscriberID)
		if err != nil {
			return err
		}
		if again != nil {
			if again.ConversationID.Valid {
				rec.result = r.classify.Classify(classify.Input{Payload: ev.Payload, Text: ev.Text})
				rec.outcome = "inbox"
				return r.toConversation(ctx, rec, again.ConversationID.Int64, "", "")
			}
			if err := json.Unmarshal(again.WaitingRuns, &runs); err != nil {
				return fmt.Errorf("inbox: waiting runs: %w", err)
			}
		}
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
		rec.result, rec.run, rec.def = res, &run, def
		gotoStep := res.Goto
		if gotoStep == "" { // no branch and no on_other: a person answers
			return r.handOff(ctx, rec)
		}
		// The move and the reply (with its webhook event) commit together:
		// whatever the branch does next (a hand-off step, a message that
		// fails) runs only once the move is visible, so its events come
		// after the reply's, in id and in commit order.
		var moved, due bool
		err = db.WithTx(ctx, r.db, func(tx *sqlx.Tx) error {
			var err error
			moved, due, err = r.runs.MoveRead(ctx, tx, run.ID, run.StepSeq, def, snd.TimeZone, gotoStep, map[string]any{"reply": map[string]any{
				"step": run.StepID, "button": ev.Payload, "sentiment": string(res.Sentiment), "rule": res.Rule, "at": ev.At}})
			if err != nil {
				return fmt.Errorf("inbox: resume run %d: %w", run.ID, err)
			}
			if !moved { // the timeout (or another reply) moved the run on first
				rec.outcome = "late"
				return r.addToConversation(ctx, tx, rec, 0, "late_reply", "")
			}
			rec.outcome, rec.gotoStep = "branch", gotoStep
			return r.store(ctx, tx, rec, nil)
		})
		if err == nil && due {
			r.runs.Wake(ctx)
		}
		return err
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

// claimWait bounds how long a reply waits for a claim that holds its
// subscriber's runs; past it the reply goes to a person as before.
const claimWait = 10 * time.Second

// afterClaims waits until no claim holds the subscriber's active runs (a
// share lock conflicts with the claim's row lock) and, when there were any,
// reads the sender again; nil when the subscriber has no active run.
func (r *Router) afterClaims(ctx context.Context, ev channels.Event, subscriberID int64) (*sender, error) {
	wctx, cancel := context.WithTimeout(ctx, claimWait)
	defer cancel()
	var active int
	if err := r.db.GetContext(wctx, &active, qWaitForClaims, subscriberID); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			r.log.WarnContext(ctx, "reply waited too long for a claim", "subscriber_id", subscriberID)
			return nil, nil
		}
		return nil, fmt.Errorf("inbox: wait for claims: %w", err)
	}
	if active == 0 {
		return nil, nil
	}
	var s sender
	if err := r.db.GetContext(ctx, &s, qSender, ev.Channel, ev.From, ev.At, channels.Account(ev.Account)); err != nil {
		return nil, fmt.Errorf("inbox: sender %s: %w", ev.Channel, err)
	}
	return &s, nil
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
	err := r.db.GetContext(ctx, &s, qSender, ev.Channel, ev.From, ev.At, channels.Account(ev.Account))
	if db.IsNoRows(err) {
		if _, err := subscribers.Anonymous(ctx, r.db, ev.Channel, ev.Account, ev.From, ev.Name, ev.Locale); err != nil {
			return s, fmt.Errorf("inbox: sender %s: %w", ev.Channel, err)
		}
		err = r.db.GetContext(ctx, &s, qSender, ev.Channel, ev.From, ev.At, channels.Account(ev.Account))
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
	def          *campaigns.Definition // the waiting run's campaign version
}

// pressLabel is the label of a pressed button that neither the waiting
// run's campaign nor the provider names (a press in an open conversation, a
// late press, a press while a claim hands off): the button's text in the
// newest message sent to the subscriber that offered it. Viber and VK send
// only the id.
func (r *Router) pressLabel(ctx context.Context, q sqlx.QueryerContext, rec replyRow) string {
	if rec.ev.Payload == "" {
		return ""
	}
	if l := rec.label(); l != "" {
		return l
	}
	var label string
	if err := sqlx.GetContext(ctx, q, &label, qPressLabel, rec.subscriberID, rec.ev.Payload); err != nil && !db.IsNoRows(err) {
		r.log.WarnContext(ctx, "button label", "subscriber_id", rec.subscriberID, "err", err)
	}
	return label
}

// label is the text of the pressed button as the customer saw it: the
// campaign's button definition, else what the provider sent with the press.
func (rec replyRow) label() string {
	if rec.ev.Payload == "" {
		return ""
	}
	if rec.def != nil && rec.run != nil {
		if l := rec.def.ButtonLabel(rec.run.StepID, rec.ev.Payload, string(rec.ev.Channel), rec.ev.Locale); l != "" {
			return l
		}
	}
	return rec.ev.Label
}

// itemText is the reply in one line for the conversation list.
func (rec replyRow) itemText() string {
	text := rec.ev.Text
	if text == "" && rec.ev.Payload != "" {
		if text = rec.label(); text == "" {
			text = "[" + rec.ev.Payload + "]"
		}
	}
	for _, a := range rec.ev.Attachments {
		text = strings.TrimSpace(a.Describe() + " " + text)
	}
	return text
}

func (r *Router) store(ctx context.Context, q db.Executor, rec replyRow, convID *int64) error {
	var runID sql.NullInt64
	var campaignID, version, stepID string
	if rec.run != nil {
		runID = sql.NullInt64{Int64: rec.run.ID, Valid: true}
		campaignID, version, stepID = rec.run.CampaignID, rec.run.Version, rec.run.StepID
	}
	// The webhook event's data (hooks reports it with the row).
	data := map[string]any{"channel": string(rec.ev.Channel), "text": rec.ev.Text, "button": rec.ev.Payload,
		"label": rec.label(), "outcome": rec.outcome, "campaign_id": campaignID, "step_id": stepID, "goto": rec.gotoStep,
		"classification": map[string]any{"sentiment": string(rec.result.Sentiment), "rule": rec.result.Rule,
			"confidence": rec.result.Confidence, "unsure": rec.result.Unsure}}
	if convID != nil {
		data["conversation_id"] = *convID
	}
	ev, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("inbox: reply event: %w", err)
	}
	n, err := db.Exec(ctx, q, "inbox: store reply", qInsertReply, rec.ev.Channel, rec.ev.ProviderEventID, rec.subscriberID, runID,
		campaignID, version, stepID, rec.ev.Text, rec.ev.Payload, string(rec.result.Sentiment),
		rec.result.Rule, rec.result.Detail, rec.outcome, rec.gotoStep, convID, rec.ev.At, rec.ev.At.Truncate(time.Microsecond), rec.label(), string(ev))
	if err != nil {
		return err
	}
	// One row per reply inserted (its webhook event); none: routed before.
	if n == 0 {
		return errRoutedBefore
	}
	return nil
}

// toConversation opens (or joins) the subscriber's conversation and adds the
// customer's words to it, with the reply row, in one transaction.
func (r *Router) toConversation(ctx context.Context, rec replyRow, convID int64, reason, note string) error {
	return db.WithTx(ctx, r.db, func(tx *sqlx.Tx) error {
		return r.addToConversation(ctx, tx, rec, convID, reason, note)
	})
}

// handOff gives the dialogue of rec's run, which no branch matched, to a
// person: the run pauses (compare-and-set: if its timeout moved it first the
// reply is late), the hand-off is recorded against it, and the reply opens
// the conversation, all in one transaction.
func (r *Router) handOff(ctx context.Context, rec replyRow) error {
	run := rec.run
	return db.WithTx(ctx, r.db, func(tx *sqlx.Tx) error {
		paused, err := r.runs.PauseRun(ctx, tx, run.ID, run.StepSeq)
		if err != nil {
			return fmt.Errorf("inbox: pause run %d: %w", run.ID, err)
		}
		if !paused {
			rec.outcome = "late"
			return r.addToConversation(ctx, tx, rec, 0, "late_reply", "")
		}
		if err := (Handoffs{}).HandOff(ctx, tx, run.ID, run.StepID, run.StepSeq, "replies", unmatchedNote, rec.ev.At); err != nil {
			return err
		}
		rec.outcome = "on_other"
		return r.addToConversation(ctx, tx, rec, 0, "unmatched", "Reply did not match any branch", run.ID)
	})
}

func (r *Router) addToConversation(ctx context.Context, tx *sqlx.Tx, rec replyRow, convID int64, reason, note string, pausedRuns ...int64) error {
	if convID == 0 {
		var err error
		convID, err = open(ctx, tx, Handoff{SubscriberID: rec.subscriberID, Channel: rec.ev.Channel, Queue: r.HandoffQueue,
			Reason: reason, Note: note, RunIDs: pausedRuns, At: rec.ev.At})
		if err != nil {
			return err
		}
	}
	// Every path to a manager passes here: the one place a press gets the
	// text its button showed.
	rec.ev.Label = r.pressLabel(ctx, tx, rec)
	text := rec.itemText()
	b, _ := json.Marshal(map[string]any{"conversation_id": convID, "kind": "customer"})
	if _, err := tx.ExecContext(ctx, qCustomerItem, convID, text, rec.ev.At, string(b), rec.ev.Channel, channels.Account(rec.ev.Account)); err != nil {
		return fmt.Errorf("inbox: add item: %w", err)
	}
	return r.store(ctx, tx, rec, &convID)
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
		return 0, fmt.Errorf("inbox: hand-off of subscriber %d has no time (Handoff.At)", h.SubscriberID)
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
