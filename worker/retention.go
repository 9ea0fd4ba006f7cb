package worker

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
)

// The rendered content goes; campaign, step, channel, status and times stay
// for the figures. A pending message still needs its content to be sent,
// and one awaiting its fallback rung still needs it to be composed again.
const qPurgeBodies = `
UPDATE messages SET content = '{}'::jsonb
 WHERE id IN (SELECT id FROM messages
               WHERE created_at < $1 AND content <> '{}'::jsonb AND status NOT IN ('pending', 'in_flight') AND fallback_at IS NULL
               ORDER BY id LIMIT $2)`

// PurgeBodies removes the content of at most limit messages created before
// before, in one short statement, and returns how many it purged (fewer
// than limit: nothing older is left).
func PurgeBodies(ctx context.Context, q db.Executor, before time.Time, limit int) (int64, error) {
	return db.PurgeBatch(ctx, q, "message bodies", qPurgeBodies, before, limit)
}
