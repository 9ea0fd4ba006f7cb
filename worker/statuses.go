package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
)

// Statuses applies delivery statuses from channel webhooks to messages. A
// status only moves forward (sent → delivered → read; failed from sent or
// delivered), so duplicates and out-of-order redeliveries change nothing. A
// permanent failure makes a pending fallback due at once; a block also marks
// the identity blocked and revokes consent for that channel.
type Statuses struct{ e *Engine }

// Apply implements the status side of channels.Sink for one event. Events
// that are not statuses are ignored.
func (s *Statuses) Apply(ctx context.Context, ev channels.Event) error {
	if err := s.apply(ctx, ev); err != nil && !errors.Is(err, ErrUnknownMessage) {
		return err
	}
	return nil
}

// ApplyWebhook is Apply for statuses that came through a provider webhook
// (and so are stored in inbound_events). A provider may report delivery
// before the send's commit has recorded the provider id (Viber answers within
// milliseconds): it retries briefly, then returns ErrUnknownMessage so the
// inbound reconciler retries the stored event later; the status is applied
// late rather than lost. It must not be called from the send path.
func (s *Statuses) ApplyWebhook(ctx context.Context, ev channels.Event) error {
	for wait := 20 * time.Millisecond; ; wait *= 2 {
		err := s.apply(ctx, ev)
		if !errors.Is(err, ErrUnknownMessage) || wait > 200*time.Millisecond {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// ErrUnknownMessage is a status for a provider message id no message carries (yet).
var ErrUnknownMessage = errors.New("status for a message that is not recorded (yet)")

func (s *Statuses) apply(ctx context.Context, ev channels.Event) error {
	// Every time written here is the engine's: a status moves a fallback
	// check, and that must be on the same clock as sent_at (a provider's
	// clock, or the wall clock under a simulated one, would put it days away).
	at := s.e.clock.Now()
	switch ev.Type {
	case channels.EventDelivered, channels.EventRead, channels.EventFailed:
	case channels.EventBlocked:
		return db.WithTx(ctx, s.e.db, func(tx *sqlx.Tx) error {
			return s.e.blockIdentity(ctx, tx, ev.Channel, ev.Account, ev.From, at,
				consent.Proof{Reason: "provider_blocked", ProviderEventID: ev.ProviderEventID})
		})
	case channels.EventUnblocked:
		return consent.Unblock(ctx, s.e.db, ev.Channel, ev.Account, ev.From)
	default:
		return nil
	}
	if ev.ProviderMessageID == "" {
		if ev.Watermark.IsZero() || ev.Type == channels.EventFailed {
			return nil
		}
		// The watermark is the provider's time; messages are compared by the
		// engine's: every message to From sent until now counts.
		if _, err := s.e.db.ExecContext(ctx, qStatusByWatermark, string(ev.Channel), ev.From, at, string(ev.Type), channels.Account(ev.Account)); err != nil {
			return fmt.Errorf("apply watermark status: %w", err)
		}
		s.e.cfg.Metrics.Message(string(ev.Channel), string(ev.Type))
		return nil
	}
	return db.WithTx(ctx, s.e.db, func(tx *sqlx.Tx) error {
		var rows []struct {
			ID      int64  `db:"id"`
			Sub     int64  `db:"subscriber_id"`
			Account string `db:"account"`
			Address string `db:"address"`
			Known   bool   `db:"known"`
		}
		if err := tx.SelectContext(ctx, &rows, qStatusByProviderID, string(ev.Channel), ev.ProviderMessageID,
			string(ev.Type), at, string(ev.ErrorKind), ev.ErrorCode, ev.ErrorMessage); err != nil {
			return fmt.Errorf("apply status: %w", err)
		}
		if len(rows) == 1 && rows[0].ID == 0 {
			// Nothing moved: a stale status (delivered after read), or no
			// message with that id yet.
			if !rows[0].Known {
				return fmt.Errorf("%w: %s %s", ErrUnknownMessage, ev.Channel, ev.ProviderMessageID)
			}
			return nil
		}
		s.e.cfg.Metrics.Message(string(ev.Channel), string(ev.Type))
		if ev.Type == channels.EventFailed && ev.ErrorKind == channels.Blocked {
			for _, r := range rows {
				if err := s.e.blockIdentity(ctx, tx, ev.Channel, r.Account, r.Address, at,
					consent.Proof{Reason: "status_blocked", MessageID: r.ID}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Accept makes Statuses a channels.Sink for status events.
func (s *Statuses) Accept(ctx context.Context, evs []channels.Event) (channels.Ack, error) {
	for _, ev := range evs {
		if err := s.Apply(ctx, ev); err != nil {
			return channels.Ack{}, err
		}
	}
	return channels.Ack{}, nil
}
