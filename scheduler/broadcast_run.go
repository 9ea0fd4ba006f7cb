package scheduler

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/db"
)

// broadcasts creates the runs of due broadcasts: for each zone whose
// instant has come, batches of BroadcastBatch subscribers in id order,
// while fewer than BroadcastWindow of the broadcast's runs wait to be
// worked. Each batch commits with its zone's progress, under the
// broadcast's row lock, so a pause or a restart takes effect between two
// batches and never creates a run twice.
func (s *Scheduler) broadcasts(ctx context.Context, now time.Time, st *Stats) error {
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, qBroadcastsDue, now); err != nil {
		return fmt.Errorf("due broadcasts: %w", err)
	}
	var zones []string
	for _, id := range ids {
		var b Broadcast
		if err := s.db.GetContext(ctx, &b, qBroadcastGet, id); err != nil {
			return fmt.Errorf("broadcast %d: %w", id, err)
		}
		var raw []byte
		if err := s.db.GetContext(ctx, &raw, qVersionDef, b.CampaignID, b.CampaignVersion); err != nil {
			return fmt.Errorf("broadcast %d: campaign version: %w", id, err)
		}
		var def campaigns.Definition
		if err := json.Unmarshal(raw, &def); err != nil {
			return fmt.Errorf("broadcast %d: definition: %w", id, err)
		}
		due := []zoneDue{{zone: "", at: b.SendAt}}
		if b.LocalTime {
			if zones == nil {
				if err := s.db.SelectContext(ctx, &zones, qZones); err != nil {
					return fmt.Errorf("subscriber zones: %w", err)
				}
			}
			due = due[:0]
			for _, z := range zones {
				due = append(due, zoneDue{zone: z, at: localInstant(b.SendAt, s.location(z))})
			}
		}
		n, err := s.advanceBroadcast(ctx, b, &def, due, now)
		st.BroadcastRuns += n
		if err != nil {
			return fmt.Errorf("broadcast %d: %w", id, err)
		}
	}
	return nil
}

type zoneDue struct {
	zone string
	at   time.Time
}

// advanceBroadcast creates batches of b's runs in the zones that are due,
// and marks b done when every zone is.
func (s *Scheduler) advanceBroadcast(ctx context.Context, b Broadcast, def *campaigns.Definition, zones []zoneDue, now time.Time) (int, error) {
	step, err := firstStep(def)
	if err != nil {
		return 0, err
	}
	key := triggerKeyOf(b.ID)
	total := 0
	for _, z := range zones {
		if z.at.After(now) {
			continue
		}
		for {
			var waiting int
			if err := s.db.GetContext(ctx, &waiting, qBroadcastOutstanding, b.CampaignID, key, now); err != nil {
				return total, fmt.Errorf("outstanding runs: %w", err)
			}
			if waiting >= s.cfg.BroadcastWindow {
				return total, nil // the worker catches up; the next pass goes on
			}
			n, more, err := s.broadcastBatch(ctx, b, def, step, z, now)
			total += n
			if err != nil || !more {
				if err != nil {
					return total, err
				}
				break
			}
		}
	}
	return total, s.finishBroadcast(ctx, b, zones, now)
}

// errStop ends a batch's transaction without error when the broadcast is
// no longer to be advanced (paused, cancelled, done).
var errStop = fmt.Errorf("broadcast not running")

// broadcastBatch creates one batch of runs in zone z; more is false when
// the zone is finished or the broadcast may not go on.
func (s *Scheduler) broadcastBatch(ctx context.Context, b Broadcast, def *campaigns.Definition, step string, z zoneDue, now time.Time) (n int, more bool, err error) {
	err = db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var state string
		if err := tx.GetContext(ctx, &state, qBroadcastLock, b.ID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if state != BroadcastScheduled && state != BroadcastRunning {
			return errStop
		}
		if state == BroadcastScheduled {
			if _, err := tx.ExecContext(ctx, qBroadcastStarted, b.ID, now); err != nil {
				return fmt.Errorf("start: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, qZoneInit, b.ID, z.zone, z.at); err != nil {
			return fmt.Errorf("zone: %w", err)
		}
		var zs struct {
			LastID int64 `db:"last_id"`
			Done   bool  `db:"done"`
		}
		if err := tx.GetContext(ctx, &zs, qZoneGet, b.ID, z.zone); err != nil {
			return fmt.Errorf("zone: %w", err)
		}
		if zs.Done {
			return nil
		}
		args := &Args{}
		where, err := AudienceWhere(def.Audience, AudienceTarget{Topic: topicOf(def), Channels: def.Settings.Channels, Now: now, Accounts: accountsOf(def)}, args)
		if err != nil {
			return err
		}
		where += " AND s.id > " + args.Add(zs.LastID)
		if z.zone != "" {
			where += " AND s.time_zone = " + args.Add(z.zone)
		}
		// The batch's last id first, then the runs up to it: both read the
		// same range whatever commits in between. JIT off before the first
		// audience query, as insertRuns does for its own.
		if _, err := tx.ExecContext(ctx, qNoJIT); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		var last sql.NullInt64
		if err := tx.GetContext(ctx, &last, `SELECT max(id) FROM (SELECT s.id FROM subscribers s WHERE `+where+
			` ORDER BY s.id LIMIT `+args.Add(s.cfg.BroadcastBatch)+`) b`, args.Values()...); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		if !last.Valid {
			_, err := tx.ExecContext(ctx, qZoneDone, b.ID, z.zone)
			return err
		}
		args.vals = args.vals[:len(args.vals)-1] // the LIMIT
		n, err = insertRuns(ctx, tx, runSpec{
			Campaign: b.CampaignID, Version: b.CampaignVersion, Step: step,
			HoldoutPercent: def.Settings.HoldoutPercent, Now: now,
			From:       "subscribers s",
			Where:      where + " AND s.id <= " + args.Add(last.Int64),
			TriggerKey: args.Add(triggerKeyOf(b.ID)) + "::text",
			NextAt:     args.Add(now) + "::timestamptz",
			Context:    args.Add(broadcastContext(b.ID)) + "::jsonb",
			Args:       args,
		})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qZoneAdvance, b.ID, z.zone, last.Int64, n); err != nil {
			return fmt.Errorf("zone progress: %w", err)
		}
		if _, err := tx.ExecContext(ctx, qBroadcastAdd, b.ID, n, now); err != nil {
			return fmt.Errorf("progress: %w", err)
		}
		more = true
		if n > 0 {
			return notify(ctx, tx, b.CampaignID)
		}
		return nil
	})
	if err == errStop {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if more {
		s.log.Debug("broadcast batch", "broadcast_id", b.ID, "time_zone", z.zone, "runs", n)
	}
	return n, more, nil
}

// finishBroadcast marks b done once every zone is finished and no zone can
// still come due (a local wall time reaches UTC−12 twelve hours late).
func (s *Scheduler) finishBroadcast(ctx context.Context, b Broadcast, zones []zoneDue, now time.Time) error {
	if b.LocalTime && now.Before(b.SendAt.Add(latestOffset)) {
		return nil
	}
	var done []string
	if err := s.db.SelectContext(ctx, &done, qZonesDone, b.ID); err != nil {
		return fmt.Errorf("finished zones: %w", err)
	}
	finished := map[string]bool{}
	for _, z := range done {
		finished[z] = true
	}
	for _, z := range zones {
		if !finished[z.zone] {
			return nil
		}
	}
	if _, err := s.db.ExecContext(ctx, qBroadcastDone, b.ID, now); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	s.log.Info("broadcast done", "broadcast_id", b.ID, "campaign_id", b.CampaignID)
	return nil
}
