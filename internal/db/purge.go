package db

import (
	"context"
	"fmt"
	"time"
)

// PurgeBatch runs stmt, a retention purge that clears at most $2 rows from
// before $1, and returns how many it cleared (fewer than limit: nothing
// older is left); what names the purge in its errors. The owning package
// keeps the statement, which says what goes and what stays.
func PurgeBatch(ctx context.Context, q Executor, what, stmt string, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("purge %s: batch size %d is not positive", what, limit)
	}
	return Exec(ctx, q, "purge "+what, stmt, before, limit)
}
