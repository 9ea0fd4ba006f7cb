package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

// Consent binds opt-in starts and revokes consent on opt-outs
// (consent.Binder).
type Consent interface {
	// Start binds the sender to the start's code and records consent. It
	// returns an error wrapping consent.ErrNotStart for a start that came in
	// a customer's message without a known code: that message is a text.
	Start(ctx context.Context, ev channels.Event) (int64, error)
	// OptOut revokes consent on the sender's channel.
	OptOut(ctx context.Context, ev channels.Event) error
}

// Statuses applies delivered / read / failed / blocked / unblocked to the
// message ledger (worker.Statuses).
type Statuses interface {
	ApplyWebhook(ctx context.Context, ev channels.Event) error
}

// Replies hands a text or button press to the flow waiting for it or to the
// inbox (inbox.Router).
type Replies interface {
	Reply(ctx context.Context, ev channels.Event) error
}

// Routes are where the sink sends events. A nil route leaves its events
// stored and marked with the reason they were not handled.
type Routes struct {
	Consent  Consent
	Statuses Statuses
	Replies  Replies
}

// Sink implements channels.Sink.
type Sink struct {
	db     *sqlx.DB
	routes atomic.Pointer[Routes]
	log    *slog.Logger
	now    func() time.Time
	// ClaimFor is how long one processing attempt may hold an event.
	ClaimFor time.Duration
	// MaxAttempts is how often an event is retried before it is left for an operator.
	MaxAttempts int
}

// New returns a sink on d; now is the clock (nil = time.Now). It stores
// events at once but routes them only once Connect has given it routes.
func New(d *sqlx.DB, log *slog.Logger, now func() time.Time) *Sink {
	now = clock.NowOr(now)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{db: d, log: log, now: now, ClaimFor: 30 * time.Second, MaxAttempts: 10}
}

// Connect gives the sink its routes. Wiring is two steps because the routes
// are built after the sink: channel adapters need the sink, and the engine
// that applies statuses needs the adapters. An event accepted before Connect
// is stored, fails processing and is retried by the reconciler.
func (s *Sink) Connect(r Routes) { s.routes.Store(&r) }

// errNotConnected fails processing before Connect.
var errNotConnected = errors.New("inbound: sink has no routes yet")

const (
	// A fresh event is stored already claimed by the Accept that stores it, so
	// processing it needs no separate claim.
	qInsert = `INSERT INTO inbound_events (channel, account, provider_event_id, type, sender, event, received_at, claimed_until, attempts)
	           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)
	           ON CONFLICT (channel, account, provider_event_id) DO NOTHING
	           RETURNING id`
	qClaim = `UPDATE inbound_events SET claimed_until = $2, attempts = attempts + 1
	           WHERE id = $1 AND processed_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)
	           RETURNING event`
	// Extends a claim this sink still holds (claimed_until is what it set).
	qRenew = `UPDATE inbound_events SET claimed_until = $2
	           WHERE id = $1 AND processed_at IS NULL AND claimed_until = $3`
	// An event's outcome commits without waiting for its WAL to reach the
	// disk (synchronous_commit off for this statement's own transaction
	// only): the event's store and its routing commit durably before it,
	// and a crash of Postgres that loses the outcome leaves the event
	// unprocessed, which Reconcile routes again, as after a crash of Nudge
	// between the routing and this statement. A reply costs one wait for
	// the disk less (issue 19 item 4: the reply path waits on WAL writes).
	qDone = `WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
	         UPDATE inbound_events SET processed_at = $2, claimed_until = NULL, result = $3 FROM async WHERE id = $1`
	qFail = `UPDATE inbound_events SET claimed_until = NULL, result = $2 WHERE id = $1`
	// Oldest unprocessed events that are not claimed and have attempts left.
	qPending = `SELECT id FROM inbound_events
	             WHERE processed_at IS NULL AND (claimed_until IS NULL OR claimed_until < $1) AND attempts < $2
	             ORDER BY id LIMIT $3`
)

// claimed is an event this sink stored and holds the claim on.
type claimed struct {
	id    int64
	ev    channels.Event
	until time.Time
}

// Accept stores the events, all or none, and then processes the new ones.
// It returns an error only when storing failed: the provider must then retry.
// Processing errors are logged and retried by Reconcile.
func (s *Sink) Accept(ctx context.Context, events []channels.Event) (channels.Ack, error) {
	var ack channels.Ack
	bodies := make([][]byte, len(events))
	for i := range events {
		ev := &events[i]
		if ev.ProviderEventID == "" {
			return ack, fmt.Errorf("inbound: %s %s event without a provider event id", ev.Channel, ev.Type)
		}
		// Receipt time on the engine's clock, whatever the provider stamped
		// (its timestamp stays in ProviderAt).
		ev.At = s.now()
		// The sender in the form identities are stored in, so consent,
		// statuses and replies find it (Meta sends phones without the "+").
		ev.From = subscribers.ProviderAddress(ev.Channel, ev.From)
		body, err := json.Marshal(ev)
		if err != nil {
			return ack, fmt.Errorf("inbound: encode event: %w", err)
		}
		bodies[i] = body
	}
	var fresh []claimed
	store := func(q db.Executor) error {
		fresh = fresh[:0]
		for i := range events {
			ev := &events[i]
			now := s.now()
			// Postgres keeps microseconds; truncating makes the stored value
			// equal to this one, so the claim can be renewed by comparing it.
			until := now.Add(s.ClaimFor).Truncate(time.Microsecond)
			var id int64
			err := q.QueryRowxContext(ctx, qInsert, ev.Channel, ev.Account, ev.ProviderEventID, ev.Type, ev.From,
				bodies[i], now, until).Scan(&id)
			if db.IsNoRows(err) {
				continue // a redelivery: already stored, maybe already processed
			}
			if err != nil {
				return fmt.Errorf("inbound: store event: %w", err)
			}
			fresh = append(fresh, claimed{id: id, ev: *ev, until: until})
		}
		return nil
	}
	var err error
	if len(events) <= 1 {
		err = store(s.db) // one statement is atomic on its own
	} else {
		err = db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error { return store(tx) })
	}
	if err != nil {
		return ack, err
	}
	for i := range events {
		if events[i].Type == channels.EventStart && ack.Welcome == "" {
			ack.Welcome = consent.Welcome(events[i].Locale)
		}
	}
	for _, c := range fresh {
		if err := s.processClaimed(ctx, c); err != nil {
			s.log.WarnContext(ctx, "inbound event processing failed; will retry", "inbound_id", c.id, "err", err)
		}
	}
	return ack, nil
}

// processClaimed routes an event stored by Accept. Events late in a slow
// batch renew their claim first so that Reconcile does not take them over.
func (s *Sink) processClaimed(ctx context.Context, c claimed) error {
	if now := s.now(); now.After(c.until.Add(-s.ClaimFor / 2)) {
		if n, err := db.Exec(ctx, s.db, "renew claim", qRenew, c.id, now.Add(s.ClaimFor), c.until); err != nil || n == 0 {
			return err // none: the claim expired and Reconcile took the event
		}
	}
	return s.handle(ctx, c.id, c.ev)
}

// process claims one stored event and routes it. It returns nil when the
// event was processed or is being processed elsewhere.
func (s *Sink) process(ctx context.Context, id int64) error {
	now := s.now()
	var body []byte
	err := s.db.QueryRowxContext(ctx, qClaim, id, now.Add(s.ClaimFor), now).Scan(&body)
	if db.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	var ev channels.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return s.finish(ctx, id, "undecodable: "+err.Error())
	}
	return s.handle(ctx, id, ev)
}

// handle routes a claimed event and records the outcome.
func (s *Sink) handle(ctx context.Context, id int64, ev channels.Event) error {
	result, err := s.route(ctx, ev)
	if err != nil {
		if _, ferr := s.db.ExecContext(context.WithoutCancel(ctx), qFail, id, "error: "+err.Error()); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	return s.finish(ctx, id, result)
}

func (s *Sink) finish(ctx context.Context, id int64, result string) error {
	_, err := s.db.ExecContext(context.WithoutCancel(ctx), qDone, id, s.now(), result)
	return err
}

// Deliver stores and routes one event from an in-process source (the
// sandbox's simulated replies) exactly as a webhook's events are.
func (s *Sink) Deliver(ctx context.Context, ev channels.Event) error {
	_, err := s.Accept(ctx, []channels.Event{ev})
	return err
}

// route sends ev where it belongs and says what it did. Which texts and
// buttons are opt-outs is consent's rule (consent.IsOptOutEvent).
func (s *Sink) route(ctx context.Context, ev channels.Event) (string, error) {
	r := s.routes.Load()
	if r == nil {
		return "", errNotConnected
	}
	switch ev.Type {
	case channels.EventStart:
		if r.Consent == nil {
			return unhandled("consent")
		}
		_, err := r.Consent.Start(ctx, ev)
		if errors.Is(err, consent.ErrNotStart) {
			ev.Type = channels.EventText // a customer's text with no known code in it
			return s.route(ctx, ev)
		}
		return done("start", err)
	case channels.EventOptOut:
		return s.optOut(ctx, r, ev)
	case channels.EventDelivered, channels.EventRead, channels.EventFailed, channels.EventBlocked, channels.EventUnblocked:
		if r.Statuses == nil {
			return unhandled("status")
		}
		return done("status", r.Statuses.ApplyWebhook(ctx, ev))
	case channels.EventText, channels.EventButton:
		if consent.IsOptOutEvent(ev) {
			return s.optOut(ctx, r, ev)
		}
		if r.Replies == nil {
			return unhandled("reply")
		}
		return done("reply", r.Replies.Reply(ctx, ev))
	default:
		return "ignored: unknown event type " + string(ev.Type), nil
	}
}

func (s *Sink) optOut(ctx context.Context, r *Routes, ev channels.Event) (string, error) {
	if r.Consent == nil {
		return unhandled("consent")
	}
	return done("opt_out", r.Consent.OptOut(ctx, ev))
}

// done names a handled event's result, or wraps its error.
func done(name string, err error) (string, error) {
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return name, nil
}

func unhandled(route string) (string, error) { return "unhandled: no " + route + " route", nil }

// Reconcile processes events that were stored but not processed (a crash, a
// handler error), oldest first, up to limit. It returns how many it processed.
func (s *Sink) Reconcile(ctx context.Context, limit int) (int, error) {
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, qPending, s.now(), s.MaxAttempts, limit); err != nil {
		return 0, fmt.Errorf("inbound: pending events: %w", err)
	}
	n := 0
	for _, id := range ids {
		if err := s.process(ctx, id); err != nil {
			s.log.WarnContext(ctx, "inbound event retry failed", "inbound_id", id, "err", err)
			continue
		}
		n++
	}
	return n, nil
}
