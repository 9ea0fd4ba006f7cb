package inbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/db"
)

// Shift is a manager on shift: new conversations of Queues (none: every
// queue) are assigned to the managers on shift in turn, in the transaction
// that opens them (nudge_inbox_open, migration 00015).
type Shift struct {
	UserID int64          `db:"user_id"`
	Email  string         `db:"email"`
	Queues pq.StringArray `db:"queues"`
	Since  time.Time      `db:"since"`
}

// StartShift puts the user on shift for queues (empty: every queue); a
// manager already on shift changes their queues and keeps their turn.
func (s *Service) StartShift(ctx context.Context, userID int64, queues []string) error {
	clean := []string{}
	lim := queueLimit(ctx)
	for _, q := range queues {
		if q = strings.TrimSpace(q); q != "" && (lim == nil || slices.Contains(lim, q)) {
			clean = append(clean, q)
		}
	}
	if len(clean) == 0 && lim != nil {
		clean = lim // a manager given queues takes only those, never every queue
	}
	if _, err := s.db.ExecContext(ctx, qShiftOn, userID, pq.StringArray(clean), s.now()); err != nil {
		return fmt.Errorf("inbox: start shift: %w", err)
	}
	return audit.Record(ctx, s.db, s.now(), audit.Event{Action: "inbox.shift_start", Subject: "user:" + strconv.FormatInt(userID, 10),
		Detail: map[string]any{"queues": clean}})
}

// EndShift takes the user off shift.
func (s *Service) EndShift(ctx context.Context, userID int64) error {
	if _, err := s.db.ExecContext(ctx, qShiftOff, userID); err != nil {
		return fmt.Errorf("inbox: end shift: %w", err)
	}
	return audit.Record(ctx, s.db, s.now(), audit.Event{Action: "inbox.shift_end", Subject: "user:" + strconv.FormatInt(userID, 10)})
}

// ShiftOf returns the user's shift; ok is false when they are off shift.
func (s *Service) ShiftOf(ctx context.Context, userID int64) (Shift, bool, error) {
	sh := Shift{UserID: userID}
	err := s.db.GetContext(ctx, &sh, qShift, userID)
	if db.IsNoRows(err) {
		return sh, false, nil
	}
	if err != nil {
		return sh, false, fmt.Errorf("inbox: shift: %w", err)
	}
	return sh, true, nil
}

// OnShift lists the managers on shift.
func (s *Service) OnShift(ctx context.Context) ([]Shift, error) {
	return db.Select[Shift](ctx, s.db, "inbox: on shift", qOnShift)
}
