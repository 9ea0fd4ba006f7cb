package payments

import (
	"context"
	"encoding/json"

	"github.com/nudge-engine/nudge/internal/db"
)

// EraseSubscriber forgets whom a subscriber's invoices were for, inside the
// erasing transaction q; amounts and charge ids stay as the shop's records.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64) error {
	return db.Erase(ctx, q, "invoices", qErase, subscriberID)
}

// ExportSubscriber returns a subscriber's invoices and payments, for an
// access request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64) (json.RawMessage, error) {
	return db.Export(ctx, q, "invoices", qExport, subscriberID)
}
