package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

// Handlers are what the sink routes events to. Any may be nil (the event is
// then stored and marked with the reason it was not handled).
type Handlers struct {
	// Start binds an opt-in start to a subscriber and records consent.
	Start func(ctx context.Context, ev channels.Event) error
	// OptOut revokes consent for the sender's channel.
	OptOut func(ctx context.Context, ev channels.Event) error
	// IsOptOut says whether a text message is an opt-out keyword.
	IsOptOut func(text string) bool
	// Status applies delivered / read / failed / blocked / unblocked.
	Status func(ctx context.Context, ev channels.Event) error
	// Reply hands a text or button press to the waiting flow or the inbox.
	Reply func(ctx context.Context, ev channels.Event) error
	// Welcome returns the text for providers that accept one synchronous reply
	// to a start (Viber conversation_started); "" for none.
	Welcome func(ev channels.Event) string
}

// Sink implements channels.Sink.
type Sink struct {
	db  *sqlx.DB
	h   Handlers
	log *slog.Logger
	now func() time.Time
	// ClaimFor is how long one processing attempt may hold an event.
	ClaimFor time.Duration
	// MaxAttempts is how often an event is retried before it is left for an operator.
	MaxAttempts int
}

// New returns a sink.
func New(d *sqlx.DB, h Handlers, log *slog.Logger, now func() time.Time) *Sink {
	if now == nil {
		now = time.Now
	}
	return &Sink{db: d, h: h, log: log, now: now, ClaimFor: 30 * time.Second, MaxAttempts: 10}
}

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
	qDone = `UPDATE inbound_events SET processed_at = $2, claimed_until = NULL, result = $3 WHERE id = $1`
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
		if events[i].Type == channels.EventStart && s.h.Welcome != nil && ack.Welcome == "" {
			ack.Welcome = s.h.Welcome(events[i])
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
		res, err := s.db.ExecContext(ctx, qRenew, c.id, now.Add(s.ClaimFor), c.until)
		if err != nil {
			return fmt.Errorf("renew claim: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("renew claim: %w", err)
		}
		if n == 0 {
			return nil // the claim expired and Reconcile took the event
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

// route calls the handler for ev and says what it did.
func (s *Sink) route(ctx context.Context, ev channels.Event) (string, error) {
	call := func(name string, f func(context.Context, channels.Event) error) (string, error) {
		if f == nil {
			return "unhandled: no " + name + " handler", nil
		}
		if err := f(ctx, ev); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return name, nil
	}
	switch ev.Type {
	case channels.EventStart:
		return call("start", s.h.Start)
	case channels.EventOptOut:
		return call("opt_out", s.h.OptOut)
	case channels.EventDelivered, channels.EventRead, channels.EventFailed, channels.EventBlocked, channels.EventUnblocked:
		return call("status", s.h.Status)
	case channels.EventText:
		if s.h.IsOptOut != nil && s.h.IsOptOut(ev.Text) {
			return call("opt_out", s.h.OptOut)
		}
		return call("reply", s.h.Reply)
	case channels.EventButton:
		if ev.Payload == "unsubscribe" {
			return call("opt_out", s.h.OptOut)
		}
		return call("reply", s.h.Reply)
	default:
		return "ignored: unknown event type " + string(ev.Type), nil
	}
}

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

// Reconciler runs Reconcile every Interval until stopped.
type Reconciler struct {
	Sink     *Sink
	Interval time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
}

// Start begins the loop.
func (r *Reconciler) Start(ctx context.Context) {
	if r.Interval <= 0 {
		r.Interval = 5 * time.Second
	}
	r.stop = make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := r.Sink.Reconcile(ctx, 500); err != nil {
					r.Sink.log.WarnContext(ctx, "inbound reconcile", "err", err)
				}
			}
		}
	}()
}

// Stop ends the loop and waits for it.
func (r *Reconciler) Stop() {
	if r.stop != nil {
		close(r.stop)
		r.wg.Wait()
	}
}
