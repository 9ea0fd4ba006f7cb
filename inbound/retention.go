package inbound

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
)

// The provider's JSON (channels.Event.Raw) goes; the normalised event, its
// type, sender and result stay, so dedup and every figure are unchanged.
// Only processed events: an unprocessed one may still be retried.
const qPurgeRaw = `
UPDATE inbound_events SET event = event - 'Raw'
 WHERE id IN (SELECT id FROM inbound_events
               WHERE received_at < $1 AND processed_at IS NOT NULL AND event ? 'Raw'
               ORDER BY id LIMIT $2)`

// PurgeRaw removes the raw provider payload of at most limit processed
// events received before before, in one short statement, and returns how
// many it purged (fewer than limit: nothing older is left).
func PurgeRaw(ctx context.Context, q db.Executor, before time.Time, limit int) (int64, error) {
	return db.PurgeBatch(ctx, q, "raw webhook payloads", qPurgeRaw, before, limit)
}
