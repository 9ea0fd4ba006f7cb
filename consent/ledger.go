package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/internal/db"
)

// AllChannels is the channel value of a consent event that covers every channel.
const AllChannels channels.Kind = "*"

// Source says how a consent event came about.
type Source string

const (
	SourceWidget  Source = "widget"   // site widget deep link, then the customer wrote first
	SourceJWTLink Source = "jwt_link" // signed link from the shop's account page
	SourceDialog  Source = "dialog"   // in the conversation: /start without code, STOP, a button
	SourceImport  Source = "import"   // CSV import carrying proof columns
	SourceAPI     Source = "api"      // POST /v1/consent from the shop's backend
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	switch s {
	case SourceWidget, SourceJWTLink, SourceDialog, SourceImport, SourceAPI:
		return true
	}
	return false
}

// Proof is what the ledger keeps to show how consent was given or taken back.
// Only the fields that apply are set.
type Proof struct {
	// Account is the bot, page or number of the channel the statement came
	// through (channels.DefaultAccount unless several are configured).
	Account           string            `json:"account,omitempty"`
	Code              string            `json:"code,omitempty"`                // opt-in code the customer brought
	JTI               string            `json:"jti,omitempty"`                 // JWT id that minted the code
	ProviderEventID   string            `json:"provider_event_id,omitempty"`   // inbound webhook event (update_id, mid, …)
	ProviderMessageID string            `json:"provider_message_id,omitempty"` // inbound message id when distinct
	IP                string            `json:"ip,omitempty"`
	UserAgent         string            `json:"user_agent,omitempty"`
	TextVersion       string            `json:"text_version,omitempty"` // version of the consent text shown
	Keyword           string            `json:"keyword,omitempty"`      // opt-out keyword or button payload
	Note              string            `json:"note,omitempty"`         // e.g. identity_rebound
	Reason            string            `json:"reason,omitempty"`       // why a block revoked: send_blocked, provider_blocked, status_blocked
	MessageKey        string            `json:"message_key,omitempty"`  // the send that failed as blocked
	MessageID         int64             `json:"message_id,omitempty"`   // the message whose status said blocked
	OtherSubscriberID int64             `json:"other_subscriber_id,omitempty"`
	Attribution       map[string]string `json:"attribution,omitempty"`
}

// Change is one consent event to record.
type Change struct {
	SubscriberID int64
	Channel      channels.Kind // a channel or AllChannels
	Topic        Topic
	Source       Source
	Proof        Proof
}

// Event is one ledger row.
type Event struct {
	ID           int64           `db:"id" json:"id"`
	SubscriberID int64           `db:"subscriber_id" json:"subscriber_id"`
	Channel      channels.Kind   `db:"channel" json:"channel"`
	Topic        Topic           `db:"topic" json:"topic"`
	Granted      bool            `db:"granted" json:"granted"`
	Source       Source          `db:"source" json:"source"`
	Proof        json.RawMessage `db:"proof" json:"proof"`
	At           time.Time       `db:"created_at" json:"at"`
}

// State is the current consent for one (channel, topic) of a subscriber.
type State struct {
	SubscriberID int64         `db:"subscriber_id" json:"-"`
	Channel      channels.Kind `db:"channel" json:"channel"`
	Topic        Topic         `db:"topic" json:"topic"`
	Granted      bool          `db:"granted" json:"granted"`
	Source       Source        `db:"source" json:"source"`
	At           time.Time     `db:"created_at" json:"at"`
}

// ErrSubscriberNotFound is returned for an unknown external id.
var ErrSubscriberNotFound = errors.New("subscriber not found")

// ErrInvalidChange is returned (wrapped) for a change that cannot be recorded.
var ErrInvalidChange = errors.New("invalid consent change")

// Ledger is the append-only consent ledger. Rows are only ever inserted;
// the current state of (subscriber, channel, topic) is its newest row, where
// a row for AllChannels counts for every channel.
type Ledger struct{}

// NewLedger returns the ledger.
func NewLedger() *Ledger { return &Ledger{} }

func (c Change) validate() error {
	switch {
	case c.SubscriberID <= 0:
		return fmt.Errorf("%w: subscriber id %d", ErrInvalidChange, c.SubscriberID)
	case c.Channel != AllChannels && !c.Channel.Valid():
		return fmt.Errorf("%w: channel %q", ErrInvalidChange, c.Channel)
	case !ValidTopic(c.Topic):
		return fmt.Errorf("%w: topic %q is not service or marketing", ErrInvalidChange, c.Topic)
	case !c.Source.Valid():
		return fmt.Errorf("%w: source %q", ErrInvalidChange, c.Source)
	}
	return nil
}

// Grant records consent given. The write takes the subscriber's advisory
// lock, so concurrent writers for one subscriber commit in id order: the
// later commit is the current state.
func (l *Ledger) Grant(ctx context.Context, q db.Executor, g Change) error {
	_, err := l.record(ctx, q, g, true)
	return err
}

// Revoke records consent taken back.
func (l *Ledger) Revoke(ctx context.Context, q db.Executor, g Change) error {
	_, err := l.record(ctx, q, g, false)
	return err
}

// Record writes one event and returns it.
func (l *Ledger) Record(ctx context.Context, q db.Executor, g Change, granted bool) (Event, error) {
	return l.record(ctx, q, g, granted)
}

func (l *Ledger) record(ctx context.Context, q db.Executor, g Change, granted bool) (Event, error) {
	if err := g.validate(); err != nil {
		return Event{}, err
	}
	proof, err := json.Marshal(g.Proof)
	if err != nil {
		return Event{}, fmt.Errorf("consent proof: %w", err)
	}
	ev := Event{SubscriberID: g.SubscriberID, Channel: g.Channel, Topic: g.Topic, Granted: granted, Source: g.Source, Proof: proof}
	if err := lockWriter(ctx, q, []int64{g.SubscriberID}); err != nil {
		return Event{}, err
	}
	if err := q.QueryRowxContext(ctx, sqlInsertEvent, g.SubscriberID, string(g.Channel), string(g.Topic), granted, string(g.Source), proof).
		Scan(&ev.ID, &ev.At); err != nil {
		return Event{}, fmt.Errorf("record consent: %w", err)
	}
	// Reported in q's transaction: the event commits with the ledger row.
	typ := hooks.OptOut
	if granted {
		typ = hooks.OptIn
	}
	if err := hooks.Emit(ctx, q, g.SubscriberID, typ, map[string]any{"channel": string(g.Channel),
		"topics": []string{string(g.Topic)}, "source": string(g.Source)}, ev.At); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// Current reports whether subscriberID currently consents to topic on
// channel (its newest event for that channel or for all channels).
func (l *Ledger) Current(ctx context.Context, q db.Executor, subscriberID int64, channel channels.Kind, topic Topic) (bool, error) {
	var granted bool
	err := q.GetContext(ctx, &granted, sqlCurrent, subscriberID, string(topic), string(channel))
	if db.IsNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("current consent: %w", err)
	}
	return granted, nil
}

// State returns the newest event per (channel, topic) of subscriberID
// (never nil).
func (l *Ledger) State(ctx context.Context, q db.Executor, subscriberID int64) ([]State, error) {
	return db.Select[State](ctx, q, "consent state", sqlState, subscriberID)
}

// History returns every event of subscriberID, oldest first (never nil).
func (l *Ledger) History(ctx context.Context, q db.Executor, subscriberID int64) ([]Event, error) {
	return db.Select[Event](ctx, q, "consent history", sqlHistory, subscriberID)
}

// grantedOn returns the topics subscriberID currently consents to on channel.
func (l *Ledger) grantedOn(ctx context.Context, q db.Executor, subscriberID int64, channel channels.Kind) ([]Topic, error) {
	var ts []Topic
	if err := q.SelectContext(ctx, &ts, sqlGrantedOn, subscriberID, string(channel), pq.Array(topicNames())); err != nil {
		return nil, fmt.Errorf("consent on channel: %w", err)
	}
	return ts, nil
}
