package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/db"
)

// clockSkew is how far the database clock (campaign_versions.created_at)
// may run ahead of the scheduler's and still be trusted.
const clockSkew = time.Minute

// schedules fires every occurrence of the schedule campaigns due by now and
// at most MaxLateness old, per zone.
func (s *Scheduler) schedules(ctx context.Context, now time.Time, cs []*campaignRow, st *Stats) error {
	var zones []string
	var errs []error
	for _, c := range cs {
		tr := c.Def.Trigger.Schedule
		spec, err := campaigns.ParseCron(tr.Cron)
		if err != nil {
			s.skip(c, fmt.Errorf("%w: %w", ErrSchedule, err))
			continue
		}
		if _, err := firstStep(c.Def); err != nil {
			s.skip(c, err)
			continue
		}
		target, err := ResolveTarget(ctx, s.db, c.Def, now)
		if err == nil {
			_, err = AudienceWhere(c.Def.Audience, target, &Args{})
		}
		if err != nil {
			s.skip(c, err)
			continue
		}
		perZone := tr.Timezone == ZoneSubscriber
		var list []string
		if perZone {
			if zones == nil {
				if err := s.db.SelectContext(ctx, &zones, qZones); err != nil {
					return fmt.Errorf("list time zones: %w", err)
				}
				if zones == nil {
					zones = []string{}
				}
			}
			list = zones
		} else {
			if tr.Timezone == "" {
				s.skip(c, fmt.Errorf("%w: schedule has no timezone", ErrSchedule))
				continue
			}
			if _, err := time.LoadLocation(tr.Timezone); err != nil {
				s.skip(c, fmt.Errorf("%w: timezone %q: %v", ErrSchedule, tr.Timezone, err))
				continue
			}
			list = []string{tr.Timezone}
		}
		for _, zone := range list {
			loc := s.location(zone)
			doneKey := c.ID + "\x00" + c.Version + "\x00" + zone
			from := now.Add(-s.cfg.MaxLateness)
			// Occurrences before this version was applied are not owed to
			// anybody. created_at is the database's clock: when it is far
			// ahead of the scheduler's (a test or demo clock set in the
			// past), only the lateness window applies.
			if c.CreatedAt.After(from) && c.CreatedAt.Before(now.Add(clockSkew)) {
				from = c.CreatedAt
			}
			if last, ok := s.done[doneKey]; ok && last.After(from) {
				from = last
			}
			ok := true
			for _, o := range Occurrences(spec, loc, from, now) {
				n, fired, err := s.fire(ctx, now, c, zone, perZone, o)
				if err != nil {
					errs = append(errs, err)
					ok = false
					break
				}
				if fired {
					st.Occurrences++
					st.ScheduleRuns += n
					s.lagNanos.Store(int64(now.Sub(o.At)))
					s.log.Info("schedule occurrence fired", "campaign_id", c.ID, "time_zone", zone,
						"wall_time", o.Wall.Format(WallLayout), "runs", n, "lag", now.Sub(o.At).String())
				}
			}
			if ok {
				s.done[doneKey] = now
			}
		}
	}
	return errors.Join(errs...)
}

// fire creates the runs of one occurrence in one zone (or for everyone when
// the campaign has a fixed zone) in one transaction with its
// scheduler_occurrences row; fired is false when it had fired before.
func (s *Scheduler) fire(ctx context.Context, now time.Time, c *campaignRow, zone string, perZone bool, o Occurrence) (n int, fired bool, err error) {
	step, err := firstStep(c.Def)
	if err != nil {
		return 0, false, err
	}
	wall := o.Wall.Format(WallLayout)
	// Cheap check first so a restart does not re-run big audience queries.
	var seen bool
	if err := s.db.GetContext(ctx, &seen, qOccurrenceFired, c.ID, zone, wall); err != nil {
		return 0, false, fmt.Errorf("check occurrence: %w", err)
	}
	if seen {
		return 0, false, nil
	}
	err = db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var claimed []int
		if err := tx.SelectContext(ctx, &claimed, qClaimOccurrence, c.ID, zone, wall, o.At, now); err != nil {
			return fmt.Errorf("claim occurrence: %w", err)
		}
		if len(claimed) == 0 {
			return nil // another leader fired it meanwhile
		}
		fired = true
		args := &Args{}
		target, err := ResolveTarget(ctx, tx, c.Def, now)
		if err != nil {
			return fmt.Errorf("campaign %s: %w", c.ID, err)
		}
		where, err := AudienceWhere(c.Def.Audience, target, args)
		if err != nil {
			return fmt.Errorf("campaign %s: %w", c.ID, err)
		}
		if perZone {
			where += " AND s.time_zone = " + args.Add(zone)
		}
		runCtx, err := json.Marshal(map[string]any{
			"trigger": "schedule", "payload": map[string]any{},
			"occurrence": map[string]string{"wall_time": wall, "time_zone": zone},
		})
		if err != nil {
			return err
		}
		ctxJSON := args.Add(string(runCtx))
		n, err = insertRuns(ctx, tx, runSpec{
			Campaign: c.ID, Version: c.Version, Step: step,
			HoldoutPercent: c.Def.Settings.HoldoutPercent, Now: now,
			From: "subscribers s", Where: where,
			TriggerKey: args.Add(o.Key()) + "::text",
			NextAt:     args.Add(o.At) + "::timestamptz",
			Context:    ctxJSON + "::jsonb",
			Args:       args,
		})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qOccurrenceRuns, c.ID, zone, wall, n); err != nil {
			return fmt.Errorf("record occurrence: %w", err)
		}
		if n > 0 {
			return notify(ctx, tx, c.ID)
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("fire %s %s %s: %w", c.ID, zone, wall, err)
	}
	return n, fired, nil
}
