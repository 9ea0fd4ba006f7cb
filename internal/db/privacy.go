package db

import (
	"context"
	"encoding/json"
	"fmt"
)

// Erase runs stmt, one statement of a subscriber's erasure, with args inside
// the erasing transaction q; what names the data it scrubs in its error. The
// owning package keeps the statement, which says what goes and what stays.
func Erase(ctx context.Context, q Executor, what, stmt string, args ...any) error {
	if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
		return fmt.Errorf("erase %s: %w", what, err)
	}
	return nil
}

// Export returns the JSON that query (one json_agg of a subscriber's rows)
// builds with args, for an access request; what names the rows in its error.
func Export(ctx context.Context, q Executor, what, query string, args ...any) (json.RawMessage, error) {
	var out json.RawMessage
	if err := q.GetContext(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("export %s: %w", what, err)
	}
	return out, nil
}

// Section is one query of an export (a json_agg of a subscriber's rows)
// and the field of the export its JSON goes to; What names the rows.
type Section struct {
	What  string
	Query string
	Dst   *json.RawMessage
}

// ExportSections fills each section's Dst with Export, in order, stopping
// at the first error.
func ExportSections(ctx context.Context, q Executor, sections []Section, args ...any) error {
	for _, s := range sections {
		var err error
		if *s.Dst, err = Export(ctx, q, s.What, s.Query, args...); err != nil {
			return err
		}
	}
	return nil
}
