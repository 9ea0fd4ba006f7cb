package inbound

import (
	"context"
	"encoding/json"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

const (
	// A subscriber's events are those sent from one of their addresses, and
	// statuses of messages sent to them (matched by the provider's message
	// id, which some providers' status events carry without an address).
	// It reads messages, so it runs before the worker scrubs their ids.
	subscriberEvents = `
 WHERE (channel, sender) IN (SELECT * FROM unnest($1::text[], $2::text[]))
    OR (event->>'ProviderMessageID' <> '' AND (channel, event->>'ProviderMessageID') IN
        (SELECT channel, provider_id FROM messages WHERE subscriber_id = $3 AND provider_id IS NOT NULL))`

	// The row stays (its provider_event_id dedupes a late redelivery) with
	// only what the event was and when; name, address, text, payload and the
	// provider's raw JSON go. An unprocessed event is closed: it has nothing
	// left to process.
	qErase = `
UPDATE inbound_events
   SET sender = $4,
       event = jsonb_build_object('Type', event->'Type', 'Channel', event->'Channel', 'Account', event->'Account',
                                  'ProviderEventID', event->'ProviderEventID', 'At', event->'At'),
       result = CASE WHEN processed_at IS NULL THEN 'erased' ELSE result END,
       processed_at = coalesce(processed_at, received_at), claimed_until = NULL` + subscriberEvents

	qExport = `
SELECT coalesce(json_agg(json_build_object('id', id, 'channel', channel, 'type', type, 'received_at', received_at,
       'event', event) ORDER BY id), '[]')
  FROM inbound_events` + subscriberEvents
)

func addresses(ids []subscribers.Identity) (chans, addrs []string) {
	for _, id := range ids {
		chans = append(chans, string(id.Channel))
		addrs = append(addrs, id.Address)
	}
	return chans, addrs
}

// EraseSubscriber is inbound's share of erasing a subscriber: the stored
// webhook events from their addresses (ids) and about their messages keep
// only their type, channel, provider event id and time; the sender becomes
// the pseudonym. q is the erasing transaction.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64, pseudonym string, ids []subscribers.Identity) error {
	chans, addrs := addresses(ids)
	return db.Erase(ctx, q, "inbound events", qErase, pq.Array(chans), pq.Array(addrs), subscriberID, pseudonym)
}

// ExportSubscriber returns the stored webhook events from the subscriber's
// addresses and about their messages, for an access request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64, ids []subscribers.Identity) (json.RawMessage, error) {
	chans, addrs := addresses(ids)
	return db.Export(ctx, q, "inbound events", qExport, pq.Array(chans), pq.Array(addrs), subscriberID)
}
