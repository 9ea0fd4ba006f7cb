package consent

import (
	"context"
	"encoding/json"

	"github.com/nudge-engine/nudge/internal/db"
)

const (
	// Opt-in codes bound to the subscriber go with their JWT uses (cascade):
	// a code is a key to the person's account link, not a figure.
	sqlEraseCodes = `DELETE FROM consent_codes WHERE subscriber_id = $1`

	sqlExportEvents = `
SELECT coalesce(json_agg(json_build_object('id', id, 'channel', channel, 'topic', topic, 'granted', granted,
       'source', source, 'proof', proof, 'created_at', created_at) ORDER BY id), '[]')
  FROM consent_events WHERE subscriber_id = $1`
	sqlExportCodes = `
SELECT coalesce(json_agg(json_build_object('code', code, 'topics', topics, 'source', source, 'attribution', attribution,
       'text_version', text_version, 'expires_at', expires_at, 'use_count', use_count, 'used_channels', used_channels,
       'created_at', created_at, 'last_used_at', last_used_at) ORDER BY created_at), '[]')
  FROM consent_codes WHERE subscriber_id = $1`
)

// EraseSubscriber is consent's share of erasing a subscriber: the ledger's
// proofs are pseudonymised (Pseudonymise; the rows stay as proof of what was
// consented and when) and the subscriber's opt-in codes are deleted. q is
// the erasing transaction.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64, pseudonym string) error {
	if err := Pseudonymise(ctx, q, subscriberID, pseudonym); err != nil {
		return err
	}
	return db.Erase(ctx, q, "opt-in codes", sqlEraseCodes, subscriberID)
}

// Export is what the consent ledger holds about one subscriber.
type Export struct {
	History json.RawMessage `json:"history"` // every ledger row with its proof, oldest first
	Codes   json.RawMessage `json:"codes"`   // opt-in codes minted for them
}

// ExportSubscriber returns the consent history (with proof) and the opt-in
// codes of subscriberID, for an access request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64) (Export, error) {
	var e Export
	err := db.ExportSections(ctx, q, []db.Section{
		{What: "consent history", Query: sqlExportEvents, Dst: &e.History},
		{What: "opt-in codes", Query: sqlExportCodes, Dst: &e.Codes},
	}, subscriberID)
	return e, err
}
