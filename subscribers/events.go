package subscribers

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
)

// MaxEventBatch is the most events one AddEvents call takes.
const MaxEventBatch = 1000

var reEventName = regexp.MustCompile(`^[A-Za-z0-9_]+([.:-][A-Za-z0-9_]+)*$`)

// Event is something that happened to a subscriber (order.delivered). An
// event with an IdempotencyKey already stored for the subscriber is skipped.
type Event struct {
	ExternalID     string         `json:"external_id,omitempty"`
	Name           string         `json:"name"`
	OccurredAt     *time.Time     `json:"occurred_at,omitempty"` // nil = now
	Payload        map[string]any `json:"payload,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
}

// Validate checks e; field names are prefixed with prefix (events[3].).
func (e *Event) Validate(prefix string) error {
	if err := ValidExternalID(prefix+"external_id", e.ExternalID); err != nil {
		return err
	}
	return e.validateEvent(prefix)
}

// validateEvent checks e but its subscriber.
func (e *Event) validateEvent(prefix string) error {
	if len(e.Name) > 100 || !reEventName.MatchString(e.Name) {
		return fieldErr(prefix+"name", "must be a name like order.delivered (letters, digits, _ separated by . : or -, at most 100 bytes)")
	}
	if e.OccurredAt != nil && (e.OccurredAt.Year() < 2000 || e.OccurredAt.Year() > 9999) {
		return fieldErr(prefix+"occurred_at", "must be an RFC 3339 time between the years 2000 and 9999")
	}
	if len(e.IdempotencyKey) > 200 || !printable(e.IdempotencyKey) {
		return fieldErr(prefix+"idempotency_key", "must be printable text of at most 200 bytes")
	}
	return nil
}

// EventsResult says what AddEvents stored.
type EventsResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"` // skipped: idempotency key seen before
}

// BatchError lists every rejected item of a batch; nothing of the batch was stored.
type BatchError struct {
	Items []*FieldError // Field starts with events[i].
}

func (e *BatchError) Error() string {
	if len(e.Items) == 1 {
		return e.Items[0].Error()
	}
	return fmt.Sprintf("%d events rejected; first: %v", len(e.Items), e.Items[0])
}

// AddEvents stores evs in one statement and one transaction: either every
// event is valid and belongs to a known subscriber and all are stored (less
// duplicates), or none is and a *BatchError names each bad item as
// events[i].field ("events" is the prefix the API uses for a batch).
func (s *Store) AddEvents(ctx context.Context, evs []Event) (EventsResult, error) {
	if len(evs) == 0 {
		return EventsResult{}, fieldErr("events", "must hold at least one event")
	}
	if len(evs) > MaxEventBatch {
		return EventsResult{}, fieldErr("events", "must hold at most %d events", MaxEventBatch)
	}
	now := s.now()
	var bad BatchError
	ext := make([]string, 0, len(evs))
	seen := make(map[string]bool, len(evs))
	payloads := make([]string, len(evs))
	for i := range evs {
		e := &evs[i]
		prefix := fmt.Sprintf("events[%d].", i)
		if err := e.Validate(prefix); err != nil {
			bad.Items = append(bad.Items, err.(*FieldError))
			continue
		}
		b, err := json.Marshal(nonNilMap(e.Payload))
		if err != nil {
			bad.Items = append(bad.Items, fieldErr(prefix+"payload", "cannot be encoded: %v", err))
			continue
		}
		payloads[i] = string(b)
		if !seen[e.ExternalID] {
			seen[e.ExternalID] = true
			ext = append(ext, e.ExternalID)
		}
	}
	var found []struct {
		ExternalID string `db:"external_id"`
		ID         int64  `db:"id"`
	}
	if len(ext) > 0 {
		if err := s.db.SelectContext(ctx, &found, qResolveExternalIDs, pq.Array(ext)); err != nil {
			return EventsResult{}, fmt.Errorf("resolve subscribers: %w", err)
		}
	}
	ids := make(map[string]int64, len(found))
	for _, f := range found {
		ids[f.ExternalID] = f.ID
	}
	var (
		subs  = make([]int64, 0, len(evs))
		names = make([]string, 0, len(evs))
		ats   = make([]string, 0, len(evs))
		pls   = make([]string, 0, len(evs))
		keys  = make([]string, 0, len(evs))
	)
	for i, e := range evs {
		if payloads[i] == "" {
			continue // already rejected
		}
		id, ok := ids[e.ExternalID]
		if !ok {
			bad.Items = append(bad.Items, fieldErr(fmt.Sprintf("events[%d].external_id", i), "no subscriber has external_id %q", e.ExternalID))
			continue
		}
		at := now
		if e.OccurredAt != nil {
			at = *e.OccurredAt
		}
		subs = append(subs, id)
		names = append(names, e.Name)
		ats = append(ats, at.UTC().Format(time.RFC3339Nano))
		pls = append(pls, payloads[i])
		keys = append(keys, e.IdempotencyKey)
	}
	if len(bad.Items) > 0 {
		sortFieldErrors(bad.Items)
		return EventsResult{}, &bad
	}
	res, err := s.db.ExecContext(ctx, qInsertEvents, pq.Array(subs), pq.Array(names), pq.Array(ats), pq.Array(pls), pq.Array(keys), now)
	if err != nil {
		return EventsResult{}, fmt.Errorf("insert events: %w", err)
	}
	n, _ := res.RowsAffected()
	return EventsResult{Accepted: int(n), Duplicates: len(evs) - int(n)}, nil
}

// AddEventFor stores e for the subscriber with id sub on q (the pool or
// the caller's transaction), for engine parts that know the subscriber by
// id (a payment): the same validation and idempotency as AddEvents, and
// e.ExternalID is ignored. stored is false for a duplicate.
func AddEventFor(ctx context.Context, q db.Executor, sub int64, e Event, now time.Time) (stored bool, err error) {
	if err := e.validateEvent(""); err != nil {
		return false, err
	}
	b, err := json.Marshal(nonNilMap(e.Payload))
	if err != nil {
		return false, fmt.Errorf("event payload: %w", err)
	}
	at := now
	if e.OccurredAt != nil {
		at = *e.OccurredAt
	}
	res, err := q.ExecContext(ctx, qInsertEvents, pq.Array([]int64{sub}), pq.Array([]string{e.Name}),
		pq.Array([]string{at.UTC().Format(time.RFC3339Nano)}), pq.Array([]string{string(b)}), pq.Array([]string{e.IdempotencyKey}), now)
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
