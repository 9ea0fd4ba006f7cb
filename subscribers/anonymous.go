package subscribers

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

const (
	qIdentityOf     = `SELECT subscriber_id FROM channel_identities WHERE channel = $1 AND address = $2 AND account = $3`
	qAnonSubscriber = `
WITH s AS (INSERT INTO subscribers (name, locale) VALUES ($3, coalesce(nullif($4, ''), 'ru')) RETURNING id)
INSERT INTO channel_identities (subscriber_id, channel, address, account)
SELECT id, $1, $2, $5 FROM s
ON CONFLICT (channel, account, address) DO NOTHING
RETURNING subscriber_id`
)

// errIdentityTaken rolls back a subscriber created for an address that
// another writer (an opt-in, the API) bound meanwhile.
var errIdentityTaken = errors.New("identity bound meanwhile")

// Anonymous returns the subscriber who owns (channel, account, address)
// (account "" is channels.DefaultAccount), creating a
// subscriber without external id for it when nobody does: a customer who
// wrote without an opt-in start still reaches a manager. Two first messages
// from one sender racing get one subscriber: the unique (channel, account, address)
// index serialises them (the loser's identity insert waits for the winner's
// commit, then inserts nothing), and the loser's subscriber, created in the
// same transaction, is rolled back, so no subscriber is ever left without
// its identity.
func Anonymous(ctx context.Context, d *sqlx.DB, ch channels.Kind, account, address, name, locale string) (int64, error) {
	var id int64
	account = channels.Account(account)
	err := db.WithTx(ctx, d, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &id, qAnonSubscriber, string(ch), address, name, locale, account)
		if db.IsNoRows(err) {
			return errIdentityTaken
		}
		return err
	})
	if errors.Is(err, errIdentityTaken) {
		err = d.GetContext(ctx, &id, qIdentityOf, string(ch), address, account)
	}
	if err != nil {
		return 0, fmt.Errorf("subscribers: anonymous %s sender: %w", ch, err)
	}
	return id, nil
}
