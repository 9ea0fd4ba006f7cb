package inbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/users"
)

const (
	qConvAccess  = `SELECT subscriber_id, queue FROM conversations WHERE id = $1`
	qMediaQueues = `SELECT coalesce(array_agg(DISTINCT c.queue), '{}')
	                  FROM reply_media m JOIN conversations c ON c.subscriber_id = m.subscriber_id
	                 WHERE m.id = $1`
)

// queueLimit is the queues the request's actor works, nil for all: a
// manager given queues sees only conversations of those queues; to them
// the others do not exist (ErrNotFound), in lists, pages, the API, media
// and the live stream alike.
func queueLimit(ctx context.Context) []string {
	a, _ := users.ActorFrom(ctx)
	return a.QueueLimit()
}

// queuesArg is queueLimit as a query argument: '{}' (not NULL) for all.
func queuesArg(ctx context.Context) pq.StringArray {
	if lim := queueLimit(ctx); lim != nil {
		return lim
	}
	return pq.StringArray{}
}

// access returns the subscriber of conversation id, or ErrNotFound when
// there is none or it lies outside the actor's queues.
func (s *Service) access(ctx context.Context, id int64) (int64, error) {
	var row struct {
		SubscriberID int64  `db:"subscriber_id"`
		Queue        string `db:"queue"`
	}
	if err := db.Get(ctx, s.db, &row, ErrNotFound, fmt.Sprintf("inbox: conversation %d", id), qConvAccess, id); err != nil {
		return 0, err
	}
	if lim := queueLimit(ctx); lim != nil && !slices.Contains(lim, row.Queue) {
		return 0, ErrNotFound
	}
	return row.SubscriberID, nil
}

// Visible reports whether the actor of ctx may see conversation id (the
// live stream asks before passing on an event).
func (s *Service) Visible(ctx context.Context, id int64) bool {
	_, err := s.access(ctx, id)
	return err == nil
}

// mediaAccess refuses an attachment of a customer with no conversation in
// the actor's queues.
func (s *Service) mediaAccess(ctx context.Context, id int64) error {
	lim := queueLimit(ctx)
	if lim == nil {
		return nil
	}
	var qs pq.StringArray
	if err := s.db.GetContext(ctx, &qs, qMediaQueues, id); err != nil {
		return fmt.Errorf("inbox: media %d: %w", id, err)
	}
	for _, q := range qs {
		if slices.Contains(lim, q) {
			return nil
		}
	}
	return ErrNotFound
}

// record appends a manager's action on conversation id to the audit log.
func record(ctx context.Context, q db.Executor, at time.Time, action string, id, subscriberID int64, detail map[string]any) error {
	return audit.Record(ctx, q, at, audit.Event{Action: action, Subject: "conversation:" + strconv.FormatInt(id, 10),
		SubscriberID: subscriberID, Detail: detail})
}
