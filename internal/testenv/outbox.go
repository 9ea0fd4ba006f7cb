package testenv

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
)

// RecordText records m to subscriber sub as worker.Engine.SendText does: a
// sent service message, once per idempotency key. It is the outbox of tests
// that run the inbox without the engine; created is false, with no error,
// when the key was recorded before.
func RecordText(ctx context.Context, d sqlx.QueryerContext, sub int64, m channels.Message) (id int64, created bool, err error) {
	err = sqlx.GetContext(ctx, d, &id, `INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, address, status, content)
		VALUES ($1, $2, 'service', $3, $4, 'sent', json_build_object('text', $5::text)) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		m.IdempotencyKey, sub, m.Channel, m.To, m.Text)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}
