package consent

import (
	"context"
	"fmt"

	"github.com/nudge-engine/nudge/internal/db"
)

// Customer names the shop's customer a JWT deep link was signed for.
type Customer struct {
	ExternalID string
	Name       string
	Locale     string
	TimeZone   string
}

// EnsureSubscriber upserts the subscriber with c.ExternalID and returns its
// id. Empty fields keep the stored values. This is the minimal write the JWT
// path needs on the base subscribers table; the subscribers package owns the
// full store.
func EnsureSubscriber(ctx context.Context, q db.Executor, c Customer) (int64, error) {
	if c.ExternalID == "" {
		return 0, fmt.Errorf("%w: external id is empty", ErrInvalidChange)
	}
	var id int64
	if err := q.GetContext(ctx, &id, sqlUpsertCustomer, c.ExternalID, c.Name, c.Locale, c.TimeZone); err != nil {
		return 0, fmt.Errorf("upsert subscriber: %w", err)
	}
	return id, nil
}

// SubscriberByExternalID returns the id of the subscriber with external id ext.
func SubscriberByExternalID(ctx context.Context, q db.Executor, ext string) (int64, error) {
	var id int64
	if err := db.Get(ctx, q, &id, ErrSubscriberNotFound, "read subscriber", sqlSubscriberByExternal, ext); err != nil {
		return 0, err
	}
	return id, nil
}
