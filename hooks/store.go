package hooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/db"
)

// Type is the kind of an event.
type Type string

// The event types.
const (
	OptIn           Type = "optin"
	OptOut          Type = "optout"
	Reply           Type = "reply"
	HandoffOpened   Type = "handoff.opened"
	HandoffResolved Type = "handoff.resolved"
	GoalReached     Type = "goal.reached"
	MessageFailed   Type = "message.failed"
)

// Types lists every event type an endpoint may ask for.
var Types = []Type{OptIn, OptOut, Reply, HandoffOpened, HandoffResolved, GoalReached, MessageFailed}

// ErrNotFound is an unknown endpoint or delivery.
var ErrNotFound = errors.New("hooks: not found")

// All SQL of the package.
var qEmit = "SELECT " + EmitSQL("$1", "$2", "$3::jsonb", "$4")

const (
	qEndpointCols   = `id, url, secret, events, description, enabled, failing_since, disabled_at, disabled_reason, created_at, updated_at`
	qInsertEndpoint = `INSERT INTO webhook_endpoints (url, secret, events, description, enabled, created_at, updated_at)
	                   VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ` + qEndpointCols
	qListEndpoints = `SELECT ` + qEndpointCols + ` FROM webhook_endpoints ORDER BY id`
	qGetEndpoint   = `SELECT ` + qEndpointCols + ` FROM webhook_endpoints WHERE id = $1`
	// Enabling again clears the failure record: the endpoint gets a new day.
	qUpdateEndpoint = `UPDATE webhook_endpoints
	                      SET url = $2, events = $3, description = $4, enabled = $5, updated_at = $6,
	                          failing_since = CASE WHEN $5 AND NOT enabled THEN NULL ELSE failing_since END,
	                          disabled_at = CASE WHEN $5 THEN NULL ELSE coalesce(disabled_at, $6) END,
	                          disabled_reason = CASE WHEN $5 THEN '' WHEN enabled THEN 'disabled by ' || $7 ELSE disabled_reason END
	                    WHERE id = $1 RETURNING ` + qEndpointCols
	qDeleteEndpoint = `DELETE FROM webhook_endpoints WHERE id = $1`

	qDeliveryCols = `d.id, d.endpoint_id, d.event_id, d.subscriber_id, d.state, d.attempts, d.next_at, d.last_attempt_at,
	                 d.last_status, d.last_error, d.latency_ms, d.delivered_at, d.replay_of, d.created_at, ev.type`
	qListDeliveries = `SELECT ` + qDeliveryCols + `
	                     FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
	                    WHERE ($1::bigint = 0 OR d.endpoint_id = $1)
	                      AND ($2 = '' OR d.state = $2)
	                      AND ($3::bigint = 0 OR d.id < $3)
	                    ORDER BY d.id DESC LIMIT $4`
	qGetDelivery = `SELECT ` + qDeliveryCols + `, ev.external_id, ev.data, ev.created_at AS event_at
	                  FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1`
	// A replay is a new delivery of the same event at the end of its line,
	// so it cannot overtake what the subscriber's line still holds.
	qReplay = `INSERT INTO webhook_deliveries (endpoint_id, event_id, subscriber_id, next_at, replay_of, created_at)
	           SELECT endpoint_id, event_id, subscriber_id, $2, id, $2 FROM webhook_deliveries WHERE id = $1
	           RETURNING id`
	qNotify = `SELECT pg_notify('nudge_hooks', '')`

	// Erasure: queued and logged events of the subscriber keep their type
	// and time, name the subscriber by the pseudonym and lose their data.
	qPseudonymise = `UPDATE webhook_events SET external_id = $2, data = '{"erased": true}'::jsonb WHERE subscriber_id = $1`
	qExport       = `SELECT type, data, created_at FROM webhook_events WHERE subscriber_id = $1 ORDER BY id`
)

// Emit reports an event about subscriberID at at through q, which must be the
// transaction of the change the event reports: it commits with the change.
// data holds the event's own fields (see docs/api.md); it is kept until the
// subscriber is erased. Nothing is written when no enabled endpoint asked
// for typ. A zero at is the database's now() (the consent ledger's time).
func Emit(ctx context.Context, q db.Executor, subscriberID int64, typ Type, data map[string]any, at time.Time) error {
	if data == nil {
		data = map[string]any{}
	}
	var t any
	if !at.IsZero() {
		t = at
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("hooks: emit %s: %w", typ, err)
	}
	if _, err := q.ExecContext(ctx, qEmit, subscriberID, string(typ), string(b), t); err != nil {
		return fmt.Errorf("hooks: emit %s: %w", typ, err)
	}
	return nil
}

// EmitSQL is Emit as an SQL expression, for an owner that reports an event
// from the statement that makes the change (one statement, so it holds on
// the pool too): the arguments are SQL expressions (placeholders or
// columns) for the subscriber id, the type, the jsonb data and the time
// (NULL: now()). Select it FROM the change's RETURNING rows, so a change
// that did nothing reports nothing.
func EmitSQL(subscriber, typ, data, at string) string {
	return "nudge_hook_emit(" + subscriber + ", " + typ + ", " + data + ", " + at + ")"
}

// Pseudonymise scrubs the subscriber's events, queued and delivered, inside
// the erasing transaction q: a pending delivery then carries only the type,
// the time and the pseudonym.
func Pseudonymise(ctx context.Context, q db.Executor, subscriberID int64, pseudonym string) error {
	if _, err := q.ExecContext(ctx, qPseudonymise, subscriberID, pseudonym); err != nil {
		return fmt.Errorf("hooks: pseudonymise events: %w", err)
	}
	return nil
}

// Export returns the events about the subscriber (their part of a data export).
func Export(ctx context.Context, q db.Executor, subscriberID int64) (any, error) {
	var out []struct {
		Type string          `db:"type" json:"type"`
		Data json.RawMessage `db:"data" json:"data"`
		At   time.Time       `db:"created_at" json:"at"`
	}
	if err := q.SelectContext(ctx, &out, qExport, subscriberID); err != nil {
		return nil, fmt.Errorf("hooks: export events: %w", err)
	}
	return out, nil
}

// Endpoint is a receiver of events.
type Endpoint struct {
	ID             int64          `db:"id" json:"id"`
	URL            string         `db:"url" json:"url"`
	Secret         string         `db:"secret" json:"-"`
	Events         pq.StringArray `db:"events" json:"events"`
	Description    string         `db:"description" json:"description"`
	Enabled        bool           `db:"enabled" json:"enabled"`
	FailingSince   *time.Time     `db:"failing_since" json:"failing_since,omitempty"`
	DisabledAt     *time.Time     `db:"disabled_at" json:"disabled_at,omitempty"`
	DisabledReason string         `db:"disabled_reason" json:"disabled_reason,omitempty"`
	CreatedAt      time.Time      `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time      `db:"updated_at" json:"updated_at"`
}

// EndpointInput is what an admin sets on an endpoint.
type EndpointInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Enabled     *bool    `json:"enabled"` // default true
}

// InvalidError names the field of an EndpointInput at fault.
type InvalidError struct{ Field, Msg string }

func (e *InvalidError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks the input: an absolute http(s) URL and known event types
// ("*" for all of them).
func (in *EndpointInput) Validate() error {
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &InvalidError{"url", "must be an absolute http or https URL"}
	}
	if len(in.Events) == 0 {
		return &InvalidError{"events", "must name at least one event type (or \"*\")"}
	}
	var evs []string
	for _, e := range in.Events {
		e = strings.TrimSpace(e)
		if e == "*" {
			evs = nil
			for _, t := range Types {
				evs = append(evs, string(t))
			}
			break
		}
		if !slices.Contains(Types, Type(e)) {
			return &InvalidError{"events", fmt.Sprintf("unknown event type %q", e)}
		}
		if !slices.Contains(evs, e) {
			evs = append(evs, e)
		}
	}
	in.Events = evs
	if len(in.Description) > 200 {
		return &InvalidError{"description", "must be at most 200 characters"}
	}
	return nil
}

// Store is the endpoints and the delivery log.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewStore returns the store on d with the engine's clock.
func NewStore(d *sqlx.DB, now func() time.Time) *Store { return &Store{db: d, now: now} }

// newSecret returns a signing secret: 32 random bytes, hex.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("hooks: secret: %w", err)
	}
	return "whsec_" + hex.EncodeToString(b), nil
}

// Create adds an endpoint with a new secret and records it in the audit log.
func (s *Store) Create(ctx context.Context, in EndpointInput) (Endpoint, error) {
	if err := in.Validate(); err != nil {
		return Endpoint{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Endpoint{}, err
	}
	var e Endpoint
	err = db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		now := s.now()
		if err := tx.GetContext(ctx, &e, qInsertEndpoint, in.URL, secret, pq.StringArray(in.Events), in.Description, in.Enabled == nil || *in.Enabled, now); err != nil {
			return fmt.Errorf("hooks: create endpoint: %w", err)
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: "webhook.create", Subject: subject(e.ID),
			Detail: map[string]any{"url": e.URL, "events": in.Events}})
	})
	return e, err
}

func subject(id int64) string { return "webhook:" + strconv.FormatInt(id, 10) }

// List returns every endpoint.
func (s *Store) List(ctx context.Context) ([]Endpoint, error) {
	return db.Select[Endpoint](ctx, s.db, "hooks: list endpoints", qListEndpoints)
}

// Get returns one endpoint.
func (s *Store) Get(ctx context.Context, id int64) (Endpoint, error) {
	var e Endpoint
	err := db.Get(ctx, s.db, &e, ErrNotFound, "hooks: get endpoint", qGetEndpoint, id)
	return e, err
}

// Update replaces an endpoint's settings (not its secret). Enabling a
// disabled endpoint clears its failure record; its queued deliveries resume.
func (s *Store) Update(ctx context.Context, id int64, in EndpointInput) (Endpoint, error) {
	if err := in.Validate(); err != nil {
		return Endpoint{}, err
	}
	var e Endpoint
	err := db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		now := s.now()
		if err := db.Get(ctx, tx, &e, ErrNotFound, "hooks: update endpoint", qUpdateEndpoint, id, in.URL, pq.StringArray(in.Events), in.Description,
			in.Enabled == nil || *in.Enabled, now, audit.By(ctx)); err != nil {
			return err
		}
		if e.Enabled {
			if _, err := tx.ExecContext(ctx, qNotify); err != nil {
				return fmt.Errorf("hooks: notify: %w", err)
			}
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: "webhook.update", Subject: subject(id),
			Detail: map[string]any{"url": e.URL, "events": []string(e.Events), "enabled": e.Enabled}})
	})
	return e, err
}

// Delete removes an endpoint with its delivery log.
func (s *Store) Delete(ctx context.Context, id int64) error {
	return db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		n, err := db.Exec(ctx, tx, "hooks: delete endpoint", qDeleteEndpoint, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return audit.Record(ctx, tx, s.now(), audit.Event{Action: "webhook.delete", Subject: subject(id)})
	})
}

// Delivery is one event sent (or to send) to one endpoint.
type Delivery struct {
	ID            int64      `db:"id" json:"id"`
	EndpointID    int64      `db:"endpoint_id" json:"endpoint_id"`
	EventID       int64      `db:"event_id" json:"event_id"`
	SubscriberID  int64      `db:"subscriber_id" json:"subscriber_id"`
	Type          string     `db:"type" json:"type"`
	State         string     `db:"state" json:"state"` // pending, delivered
	Attempts      int        `db:"attempts" json:"attempts"`
	NextAt        *time.Time `db:"next_at" json:"next_at,omitempty"` // nil: due at once
	LastAttemptAt *time.Time `db:"last_attempt_at" json:"last_attempt_at,omitempty"`
	LastStatus    *int       `db:"last_status" json:"last_status,omitempty"`
	LastError     string     `db:"last_error" json:"last_error,omitempty"`
	LatencyMS     *int       `db:"latency_ms" json:"latency_ms,omitempty"`
	DeliveredAt   *time.Time `db:"delivered_at" json:"delivered_at,omitempty"`
	ReplayOf      *int64     `db:"replay_of" json:"replay_of,omitempty"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
}

// DeliveryFilter selects deliveries; zero fields select all.
type DeliveryFilter struct {
	EndpointID int64
	State      string
	Before     int64 // deliveries with a smaller id: the next page
	Limit      int   // default 50, at most 500
}

// Deliveries returns the log, newest first.
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	return db.Select[Delivery](ctx, s.db, "hooks: list deliveries", qListDeliveries, f.EndpointID, f.State, f.Before, limit)
}

// DeliveryDetail is a delivery with the body it sends.
type DeliveryDetail struct {
	Delivery
	Body json.RawMessage `json:"body"`
}

// Delivery returns one delivery with its body.
func (s *Store) Delivery(ctx context.Context, id int64) (DeliveryDetail, error) {
	var row struct {
		Delivery
		ExternalID string          `db:"external_id"`
		Data       json.RawMessage `db:"data"`
		EventAt    time.Time       `db:"event_at"`
	}
	if err := db.Get(ctx, s.db, &row, ErrNotFound, "hooks: get delivery", qGetDelivery, id); err != nil {
		return DeliveryDetail{}, err
	}
	body, err := envelope(row.EventID, row.Type, row.EventAt, row.SubscriberID, row.ExternalID, row.Data)
	return DeliveryDetail{Delivery: row.Delivery, Body: body}, err
}

// Replay queues the delivery's event again to its endpoint, as a new
// delivery at the end of the subscriber's line, and records who asked.
func (s *Store) Replay(ctx context.Context, id int64) (int64, error) {
	var nid int64
	err := db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		now := s.now()
		if err := db.Get(ctx, tx, &nid, ErrNotFound, "hooks: replay", qReplay, id, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qNotify); err != nil {
			return fmt.Errorf("hooks: notify: %w", err)
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: "webhook.replay", Subject: "webhook_delivery:" + strconv.FormatInt(id, 10),
			Detail: map[string]any{"delivery_id": nid}})
	})
	return nid, err
}

// envelope is the body of every request: the event's id, type and time, the
// subscriber, and the type's own data.
func envelope(eventID int64, typ string, at time.Time, subscriberID int64, externalID string, data json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(struct {
		ID         string          `json:"id"`
		Type       string          `json:"type"`
		CreatedAt  string          `json:"created_at"`
		Subscriber map[string]any  `json:"subscriber"`
		Data       json.RawMessage `json:"data"`
	}{"evt_" + strconv.FormatInt(eventID, 10), typ, at.UTC().Format(time.RFC3339Nano),
		map[string]any{"id": subscriberID, "external_id": externalID}, data})
	if err != nil {
		return nil, fmt.Errorf("hooks: body: %w", err)
	}
	return b, nil
}
