package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/db"
)

// eventsCursor names the scheduler_cursors row of the event trigger loop.
const eventsCursor = "events"

// events reads subscriber_events after the cursor in batches and creates
// runs for every active event-triggered campaign whose trigger names the
// event. Each batch's run inserts and the cursor advance commit together.
//
// A batch reads its campaigns after its events, in its own transaction: a
// campaign applied before an event was committed is then always among
// them. The pass's own list is older; a campaign applied while the pass
// was scheduling would miss the events that arrived meanwhile, and the
// cursor never comes back for them.
func (s *Scheduler) events(ctx context.Context, now time.Time, st *Stats) error {
	if _, err := s.db.ExecContext(ctx, qCursorInit, eventsCursor); err != nil {
		return fmt.Errorf("init event cursor: %w", err)
	}
	for ctx.Err() == nil {
		var read int
		err := db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
			var last int64
			if err := tx.GetContext(ctx, &last, qCursorLock, eventsCursor); err != nil {
				return fmt.Errorf("lock event cursor: %w", err)
			}
			upTo, n, err := s.eventsSafeUpTo(ctx, tx, last)
			if err != nil {
				return err
			}
			if upTo == last {
				return nil
			}
			read = n
			rows, err := loadCampaigns(ctx, tx)
			if err != nil {
				return err
			}
			_, cs := s.byTrigger(rows)
			for _, c := range cs {
				k, err := s.eventRuns(ctx, tx, now, c, last, upTo)
				if err != nil {
					return err
				}
				st.EventRuns += k
			}
			if _, err := tx.ExecContext(ctx, qCursorSet, eventsCursor, upTo); err != nil {
				return fmt.Errorf("advance event cursor: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		st.Events += read
		if read < s.cfg.EventBatch {
			return nil
		}
	}
	return ctx.Err()
}

// eventsSafeUpTo returns the highest event id up to which the cursor may
// advance, and how many events that covers. Ids are taken at insert but
// become visible at commit, so a gap may be a transaction still in flight:
// the cursor stops before a gap until the event after it is older than
// EventGapGrace (then the gap is taken for a rollback).
func (s *Scheduler) eventsSafeUpTo(ctx context.Context, tx *sqlx.Tx, last int64) (int64, int, error) {
	var rows []struct {
		ID      int64 `db:"id"`
		Settled bool  `db:"settled"`
	}
	grace := fmt.Sprintf("%d microseconds", s.cfg.EventGapGrace.Microseconds())
	if err := tx.SelectContext(ctx, &rows, qEventsAfter, last, s.cfg.EventBatch, grace); err != nil {
		return 0, 0, fmt.Errorf("read events: %w", err)
	}
	upTo, n := last, 0
	for _, r := range rows {
		if r.ID != upTo+1 && !r.Settled {
			break
		}
		upTo = r.ID
		n++
	}
	return upTo, n, nil
}

// eventRuns creates the runs of campaign c for events in (after, upTo].
func (s *Scheduler) eventRuns(ctx context.Context, tx *sqlx.Tx, now time.Time, c *campaignRow, after, upTo int64) (int, error) {
	tr := c.Def.Trigger.Event
	if tr == nil || tr.Name == "" {
		return 0, nil
	}
	step, err := firstStep(c.Def)
	if err != nil {
		s.skip(c, err)
		return 0, nil
	}
	args := &Args{}
	target, err := ResolveTarget(ctx, tx, c.Def, now)
	if err != nil {
		s.skip(c, err)
		return 0, nil
	}
	where, err := AudienceWhere(c.Def.Audience, target, args)
	if err != nil {
		s.skip(c, err)
		return 0, nil
	}
	delay := fmt.Sprintf("%d microseconds", tr.Delay.D().Microseconds())
	d := args.Add(delay) + "::interval"
	where += " AND e.id > " + args.Add(after) + " AND e.id <= " + args.Add(upTo) +
		" AND e.name = " + args.Add(tr.Name) +
		" AND e.occurred_at + " + d + " >= " + args.Add(now.Add(-s.cfg.EventMaxLateness)) + "::timestamptz"
	n, err := insertRuns(ctx, tx, runSpec{
		Campaign: c.ID, Version: c.Version, Step: step,
		HoldoutPercent: c.Def.Settings.HoldoutPercent, Now: now,
		From:       "subscriber_events e JOIN subscribers s ON s.id = e.subscriber_id",
		Where:      where,
		TriggerKey: "'event:' || e.id::text",
		NextAt:     "e.occurred_at + " + d,
		Context: `jsonb_build_object('trigger', 'event', 'payload', e.payload, 'event',
		           jsonb_build_object('id', e.id, 'name', e.name, 'occurred_at', e.occurred_at))`,
		Args: args,
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if err := notify(ctx, tx, c.ID); err != nil {
			return 0, err
		}
		s.log.Info("event runs created", "campaign_id", c.ID, "event", tr.Name, "runs", n)
	}
	return n, nil
}
