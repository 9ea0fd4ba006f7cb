package payments

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nudge-engine/nudge/internal/db"
)

// EraseSubscriber forgets whom a subscriber's invoices were for, inside the
// erasing transaction q; amounts and charge ids stay as the shop's records.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64) error {
	if _, err := q.ExecContext(ctx, qErase, subscriberID); err != nil {
		return fmt.Errorf("erase invoices: %w", err)
	}
	return nil
}

// ExportSubscriber returns a subscriber's invoices and payments, for an
// access request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64) (any, error) {
	var out []byte
	if err := q.GetContext(ctx, &out, qExport, subscriberID); err != nil {
		return nil, fmt.Errorf("export invoices: %w", err)
	}
	return json.RawMessage(out), nil
}
