package sandbox

import (
	"context"
	"fmt"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
)

// The sandbox's record of what it was sent to a subscriber: to one of their
// addresses, or under the key of one of their messages.
const qErase = `
DELETE FROM sandbox_sends
 WHERE (channel, address) IN (SELECT * FROM unnest($1::text[], $2::text[]))
    OR idempotency_key IN (SELECT idempotency_key FROM messages WHERE subscriber_id = $3)`

// EraseSubscriber deletes what the sandbox provider recorded as sent to
// subscriberID, whose addresses are chans[i]/addrs[i]. The figures live in
// messages, so nothing of it is kept. q is the erasing transaction.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64, chans, addrs []string) error {
	if _, err := q.ExecContext(ctx, qErase, pq.Array(chans), pq.Array(addrs), subscriberID); err != nil {
		return fmt.Errorf("erase sandbox sends: %w", err)
	}
	return nil
}
