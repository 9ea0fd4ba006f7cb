// Package inboxtest holds what the tests of the inbox and of its users
// share: the engine's outbox reduced to the row it records.
package inboxtest

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// RecordText records a manager's reply m to subscriber sub as
// worker.Engine.SendText does, once per idempotency key, but as sent at
// once: it returns the message's id and whether this call recorded it
// (false, with no error, for a key already recorded).
func RecordText(ctx context.Context, q sqlx.QueryerContext, sub int64, m channels.Message) (int64, bool, error) {
	var id int64
	err := sqlx.GetContext(ctx, q, &id, `INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, address, status, content)
		VALUES ($1, $2, 'service', $3, $4, 'sent', json_build_object('text', $5::text)) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		m.IdempotencyKey, sub, m.Channel, m.To, m.Text)
	if db.IsNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}
