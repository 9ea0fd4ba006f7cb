package inbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/policy"
)

var (
	ErrNotFound = errors.New("inbox: conversation not found")
	ErrClosed   = errors.New("inbox: conversation is resolved")
	ErrTaken    = errors.New("inbox: conversation is assigned to someone else")
	ErrEmpty    = errors.New("inbox: text is empty")
	// ErrUnknownView: List was asked for a view other than the View* ones.
	ErrUnknownView = errors.New("inbox: unknown view")
)

// WindowError says the channel's rules forbid a free-form reply now, and
// what is allowed instead.
type WindowError struct {
	Channel channels.Kind
	Reason  string
	Allowed string // "template:<name>" when a template may be sent, "" when nothing may
}

func (e *WindowError) Error() string {
	return fmt.Sprintf("inbox: %s does not allow a free-form reply now: %s", e.Channel, e.Reason)
}

// Outbox is the engine's outbox as the inbox needs it; the worker's Engine
// implements it, so a manager's reply takes the path of every message the
// engine sends (rate limits, metrics, idempotency, blocked identities).
type Outbox interface {
	// SendText sends m (a person's words: Text, and Template or Tag outside a
	// 24h window) to the subscriber at m.To on m.Channel and records it as a
	// message under m.IdempotencyKey. sent is false, with no error, when the
	// key was recorded before (a resubmitted form): nothing is sent again. A
	// provider's refusal is recorded on the message and returned.
	SendText(ctx context.Context, subscriberID int64, m channels.Message) (messageID int64, sent bool, err error)
}

// Service is what managers do with conversations.
type Service struct {
	db       *sqlx.DB
	outbox   Outbox
	runs     Runs
	versions *campaigns.Versions
	log      *slog.Logger
	now      func() time.Time
	// SLA is how long a conversation may wait for a first manager response.
	SLA time.Duration
	// WhatsAppTemplate is the approved template offered when the 24h window is closed.
	WhatsAppTemplate channels.TemplateRef
}

// NewService returns the manager service.
func NewService(d *sqlx.DB, o Outbox, r Runs, log *slog.Logger, now func() time.Time) *Service {
	return &Service{db: d, outbox: o, runs: r, versions: campaigns.NewVersions(d), log: log, now: clock.NowOr(now), SLA: 15 * time.Minute,
		WhatsAppTemplate: channels.TemplateRef{Name: "manager_followup", Language: "ru"}}
}

// Summary is a conversation in a list.
type Summary struct {
	ID              int64         `db:"id" json:"id"`
	SubscriberID    int64         `db:"subscriber_id" json:"subscriber_id"`
	ExternalID      string        `db:"external_id" json:"external_id"`
	Name            string        `db:"name" json:"name"`
	Channel         string        `db:"channel" json:"channel"`
	Queue           string        `db:"queue" json:"queue"`
	Reason          string        `db:"reason" json:"reason"`
	Note            string        `db:"note" json:"note"`
	State           string        `db:"state" json:"state"`
	AssigneeID      sql.NullInt64 `db:"assignee_id" json:"-"`
	Assignee        string        `db:"assignee" json:"assignee"`
	OpenedAt        time.Time     `db:"opened_at" json:"opened_at"`
	LastCustomerAt  *time.Time    `db:"last_customer_at" json:"last_customer_at,omitempty"`
	FirstResponseAt *time.Time    `db:"first_response_at" json:"first_response_at,omitempty"`
	ResolvedAt      *time.Time    `db:"resolved_at" json:"resolved_at,omitempty"`
	Overdue         bool          `db:"overdue" json:"overdue"`
	LastText        string        `db:"last_text" json:"last_text"`
	// PhoneTail is the last four digits of the customer's phone, if known.
	PhoneTail string `db:"phone_tail" json:"phone_tail,omitempty"`
}

// Entry is one line of a conversation's history.
type Entry struct {
	At         time.Time `db:"at" json:"at"`
	Ord        int       `db:"ord" json:"-"`
	Kind       string    `db:"kind" json:"kind"` // bot | customer | manager | note | system
	Channel    string    `db:"channel" json:"channel,omitempty"`
	Text       string    `db:"text" json:"text"`
	Status     string    `db:"status" json:"status,omitempty"`
	Attempt    int       `db:"attempt" json:"attempt,omitempty"` // > 0: a fallback rung
	CampaignID string    `db:"campaign_id" json:"campaign_id,omitempty"`
	StepID     string    `db:"step_id" json:"step_id,omitempty"`
	Sentiment  string    `db:"sentiment" json:"sentiment,omitempty"`
	Rule       string    `db:"rule" json:"rule,omitempty"`
	Detail     string    `db:"detail" json:"detail,omitempty"`
	// Button is the id of a pressed button (Text is its label).
	Button    string     `db:"button" json:"button,omitempty"`
	MediaJSON []byte     `db:"media" json:"-"`
	Media     []MediaRef `json:"media,omitempty"`
}

// Detail is a conversation with its history.
type Detail struct {
	Summary
	History []Entry `json:"history"`
	// ReplyRule says whether a free-form reply may go out now.
	ReplyRule *WindowError `json:"reply_rule,omitempty"`
}

// Views of the queue.
const (
	ViewAll        = "all"
	ViewMine       = "mine"
	ViewUnassigned = "unassigned"
	ViewOverdue    = "overdue"
	ViewResolved   = "resolved"
)

// List returns conversations of a view (all, mine, unassigned, overdue, resolved).
func (s *Service) List(ctx context.Context, view string, userID int64, queue string, limit int) ([]Summary, error) {
	switch view {
	case ViewAll, ViewMine, ViewUnassigned, ViewOverdue, ViewResolved:
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownView, view)
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return db.Select[Summary](ctx, s.db, "inbox: list", qList, view, userID, queue, limit, s.now().Add(-s.SLA), queuesArg(ctx))
}

// Get returns a conversation with the subscriber's full history.
func (s *Service) Get(ctx context.Context, id int64) (Detail, error) {
	var d Detail
	if _, err := s.access(ctx, id); err != nil {
		return d, err
	}
	err := db.Get(ctx, s.db, &d.Summary, ErrNotFound, "inbox: get", qGet, id, s.now().Add(-s.SLA))
	if err != nil {
		return d, err
	}
	d.History = []Entry{}
	if err := s.db.SelectContext(ctx, &d.History, qHistory, d.SubscriberID); err != nil {
		return d, fmt.Errorf("inbox: history: %w", err)
	}
	for i := range d.History {
		if d.History[i].Media, err = decodeMedia(d.History[i].MediaJSON); err != nil {
			return d, err
		}
	}
	if t, err := s.target(ctx, id); err == nil {
		d.ReplyRule = s.replyRule(t)
	}
	return d, nil
}

// Claim assigns an unassigned conversation to the user.
func (s *Service) Claim(ctx context.Context, id, userID int64) error {
	return s.assign(ctx, id, userID, qClaim, "claim", ErrTaken, nil)
}

// Assign gives the conversation to a user.
func (s *Service) Assign(ctx context.Context, id, userID int64) error {
	return s.assign(ctx, id, userID, qAssign, "assign", ErrNotFound, map[string]any{"assignee_id": userID})
}

// assign runs query, which makes userID the assignee of conversation id or
// changes no row (then it fails with none), records "inbox.<verb>" with
// detail and tells the inbox pages.
func (s *Service) assign(ctx context.Context, id, userID int64, query, verb string, none error, detail map[string]any) error {
	sub, err := s.access(ctx, id)
	if err != nil {
		return err
	}
	return db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		n, err := db.Exec(ctx, tx, "inbox: "+verb, query, id, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return none
		}
		if err := record(ctx, tx, s.now(), "inbox."+verb, id, sub, detail); err != nil {
			return err
		}
		return notify(ctx, tx, id, "assigned")
	})
}

// Note adds an internal note (never sent to the customer).
func (s *Service) Note(ctx context.Context, id, userID int64, text string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return ErrEmpty
	}
	sub, err := s.access(ctx, id)
	if err != nil {
		return err
	}
	now := s.now()
	return db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, qAddItem, id, "note", userID, text, nil, now); err != nil {
			return fmt.Errorf("inbox: note: %w", err)
		}
		if err := record(ctx, tx, now, "inbox.note", id, sub, nil); err != nil { // never the text
			return err
		}
		return notify(ctx, tx, id, "note")
	})
}

type target struct {
	SubscriberID  int64         `db:"subscriber_id"`
	Channel       channels.Kind `db:"channel"`
	State         string        `db:"state"`
	Account       *string       `db:"account"`
	Address       *string       `db:"address"`
	LastInboundAt *time.Time    `db:"last_inbound_at"`
	BlockedAt     *time.Time    `db:"blocked_at"`
	Locale        string        `db:"locale"`
}

func (s *Service) target(ctx context.Context, id int64) (target, error) {
	var t target
	err := s.db.GetContext(ctx, &t, qConvTarget, id)
	if db.IsNoRows(err) {
		return t, ErrNotFound
	}
	return t, err
}

// replyRule applies the channel's rules for a free-form manager reply
// (policy.ForPerson): WhatsApp only within 24h of the customer's last
// message, else an approved template; Messenger and Instagram 24h, or up to
// 7 days with the HUMAN_AGENT tag.
func (s *Service) replyRule(t target) *WindowError {
	if t.Address == nil {
		return &WindowError{Channel: t.Channel, Reason: "the customer has no identity on this channel"}
	}
	if t.BlockedAt != nil {
		return &WindowError{Channel: t.Channel, Reason: "the customer blocked the bot"}
	}
	switch r := policy.ForPerson(t.Channel, t.LastInboundAt, s.now()); {
	case r.NeedsTemplate:
		return &WindowError{Channel: t.Channel, Reason: r.Reason, Allowed: "template:" + s.WhatsAppTemplate.Name}
	case !r.Allowed:
		return &WindowError{Channel: t.Channel, Reason: r.Reason}
	}
	return nil
}

// ReplyRequest is a manager's answer.
type ReplyRequest struct {
	Text string
	// UseTemplate sends the approved template where the window is closed.
	UseTemplate bool
	// RequestID makes a retried submit send once (the form's token).
	RequestID string
}

// Reply sends the manager's answer through the customer's channel, inside
// that channel's rules, and records it as a message.
func (s *Service) Reply(ctx context.Context, id, userID int64, req ReplyRequest) error {
	req.Text = strings.TrimSpace(req.Text)
	if req.Text == "" && !req.UseTemplate {
		return ErrEmpty
	}
	if _, err := s.access(ctx, id); err != nil {
		return err
	}
	t, err := s.target(ctx, id)
	if err != nil {
		return err
	}
	if t.State != "open" {
		return ErrClosed
	}
	m := channels.Message{Channel: t.Channel, Account: deref(t.Account), To: deref(t.Address), Text: req.Text, Format: channels.Plain}
	if rule := s.replyRule(t); rule != nil {
		if !(req.UseTemplate && strings.HasPrefix(rule.Allowed, "template:")) {
			return rule
		}
		tpl := s.WhatsAppTemplate
		tpl.Params = []string{req.Text}
		m.Template = &tpl
	}
	m.Tag = policy.ForPerson(t.Channel, t.LastInboundAt, s.now()).Tag
	if req.RequestID == "" {
		req.RequestID = fmt.Sprintf("%d", s.now().UnixNano())
	}
	m.IdempotencyKey = fmt.Sprintf("manager:%d:%s", id, req.RequestID)
	msgID, sent, err := s.outbox.SendText(ctx, t.SubscriberID, m)
	if err != nil {
		return fmt.Errorf("inbox: send reply: %w", err)
	}
	if !sent {
		return nil // the same submit again: it was sent already
	}
	now := s.now()
	return db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, qAddItem, id, "manager", userID, req.Text, msgID, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qResponse, id, now, userID); err != nil {
			return err
		}
		if err := record(ctx, tx, now, "inbox.reply", id, t.SubscriberID, map[string]any{"message_id": msgID}); err != nil {
			return err
		}
		return notify(ctx, tx, id, "manager")
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Resolve closes the conversation and resumes (or ends) the flows it paused.
func (s *Service) Resolve(ctx context.Context, id, userID int64, end bool) error {
	resolution := "resume"
	if end {
		resolution = "end"
	}
	sub, err := s.access(ctx, id)
	if err != nil {
		return err
	}
	var runs pq.Int64Array
	err = s.db.GetContext(ctx, &runs, qResolve, id, s.now(), userID, resolution)
	if db.IsNoRows(err) {
		if _, gerr := s.target(ctx, id); errors.Is(gerr, ErrNotFound) {
			return ErrNotFound
		}
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("inbox: resolve: %w", err)
	}
	for _, run := range runs {
		if err := s.resumeRun(ctx, run, end); err != nil {
			return fmt.Errorf("inbox: resume run %d: %w", run, err)
		}
	}
	if err := record(ctx, s.db, s.now(), "inbox.resolve", id, sub, map[string]any{"resolution": resolution}); err != nil {
		return err
	}
	return notify(ctx, s.db, id, "resolved")
}

// FlagOverdue marks open conversations without a manager response within the
// SLA, returning their ids (for alerts and live updates).
func (s *Service) FlagOverdue(ctx context.Context) ([]int64, error) {
	now := s.now()
	ids := []int64{}
	if err := s.db.SelectContext(ctx, &ids, qFlagSLA, now, now.Add(-s.SLA)); err != nil {
		return nil, fmt.Errorf("inbox: flag overdue: %w", err)
	}
	for _, id := range ids {
		if err := notify(ctx, s.db, id, "overdue"); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// Figures are the conversation numbers analytics reads.
type Figures struct {
	ReactionP50ms     *float64        `db:"reaction_p50_ms" json:"reaction_p50_ms"`
	ReactionP90ms     *float64        `db:"reaction_p90_ms" json:"reaction_p90_ms"`
	FirstResponseP50s *float64        `db:"first_response_p50_s" json:"first_response_p50_s"`
	ResolutionP50s    *float64        `db:"resolution_p50_s" json:"resolution_p50_s"`
	Conversations     int             `db:"conversations" json:"conversations"`
	RepeatContacts    int             `db:"repeat_contacts" json:"repeat_contacts"`
	SentimentByStep   []StepSentiment `json:"sentiment_by_step"`
}

// StepSentiment counts replies of one sentiment to one step.
type StepSentiment struct {
	CampaignID string `db:"campaign_id" json:"campaign_id"`
	StepID     string `db:"step_id" json:"step_id"`
	Sentiment  string `db:"sentiment" json:"sentiment"`
	N          int    `db:"n" json:"n"`
}

// Stats computes the figures since a time.
func (s *Service) Stats(ctx context.Context, since time.Time) (Figures, error) {
	var f Figures
	if err := s.db.GetContext(ctx, &f, qFigures, since); err != nil {
		return f, fmt.Errorf("inbox: figures: %w", err)
	}
	f.SentimentByStep = []StepSentiment{}
	if err := s.db.SelectContext(ctx, &f.SentimentByStep, qSentimentByStep, since); err != nil {
		return f, fmt.Errorf("inbox: sentiment by step: %w", err)
	}
	return f, nil
}
