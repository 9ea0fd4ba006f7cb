package scheduler

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
)

var errBadConn = driver.ErrBadConn

// Config tunes the scheduler. Zero fields take the defaults of WithDefaults.
type Config struct {
	// Interval between passes while leading (wall time). Default 2s.
	Interval time.Duration
	// LeaderRetry is how often a follower tries to take the lead. Default 3s.
	LeaderRetry time.Duration
	// MaxLateness: a schedule occurrence missed (no scheduler running) is
	// still fired if it is at most this old. Default 1h.
	MaxLateness time.Duration
	// EventMaxLateness: an event whose run would already be due longer ago
	// than this (occurred_at + delay) creates no run (history imports,
	// long outages). Default 24h.
	EventMaxLateness time.Duration
	// EventBatch is how many events one transaction reads. Default 5000.
	EventBatch int
	// EventGapGrace: an id gap in subscriber_events (a transaction still in
	// flight, or rolled back) holds the cursor until the event after the gap
	// is this old. Default 1m.
	EventGapGrace time.Duration
	// DefaultTimeZone is used for subscribers whose time_zone is not a valid
	// IANA zone. Default Europe/Moscow (the column default).
	DefaultTimeZone string
	// LockKey is the advisory lock leaders hold. Default DefaultLockKey.
	LockKey int64
	// BroadcastBatch is how many subscribers one transaction of a
	// broadcast covers. Default 1000.
	BroadcastBatch int
	// BroadcastWindow: a broadcast gets no new batch while this many of its
	// runs are due and not yet worked, so a pause holds back all but these.
	// Default 5000.
	BroadcastWindow int
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.LeaderRetry <= 0 {
		c.LeaderRetry = 3 * time.Second
	}
	if c.MaxLateness <= 0 {
		c.MaxLateness = time.Hour
	}
	if c.EventMaxLateness <= 0 {
		c.EventMaxLateness = 24 * time.Hour
	}
	if c.EventBatch <= 0 {
		c.EventBatch = 5000
	}
	if c.EventGapGrace <= 0 {
		c.EventGapGrace = time.Minute
	}
	if c.DefaultTimeZone == "" {
		c.DefaultTimeZone = "Europe/Moscow"
	}
	if c.LockKey == 0 {
		c.LockKey = DefaultLockKey
	}
	if c.BroadcastBatch <= 0 {
		c.BroadcastBatch = 1000
	}
	if c.BroadcastWindow <= 0 {
		c.BroadcastWindow = 5000
	}
	return c
}

// LoadConfig reads NUDGE_SCHEDULER_* variables; problems are recorded on e.
func LoadConfig(e *config.Env) Config {
	c := Config{
		Interval:         e.Duration("NUDGE_SCHEDULER_INTERVAL", 2*time.Second),
		LeaderRetry:      e.Duration("NUDGE_SCHEDULER_LEADER_RETRY", 3*time.Second),
		MaxLateness:      e.Duration("NUDGE_SCHEDULER_MAX_LATENESS", time.Hour),
		EventMaxLateness: e.Duration("NUDGE_SCHEDULER_EVENT_MAX_LATENESS", 24*time.Hour),
		EventBatch:       e.Int("NUDGE_SCHEDULER_EVENT_BATCH", 5000),
		EventGapGrace:    e.Duration("NUDGE_SCHEDULER_EVENT_GAP_GRACE", time.Minute),
		DefaultTimeZone:  e.String("NUDGE_SCHEDULER_DEFAULT_TIME_ZONE", "Europe/Moscow"),
		BroadcastBatch:   e.Int("NUDGE_SCHEDULER_BROADCAST_BATCH", 1000),
		BroadcastWindow:  e.Int("NUDGE_SCHEDULER_BROADCAST_WINDOW", 5000),
	}
	if _, err := time.LoadLocation(c.DefaultTimeZone); err != nil {
		e.Fail("NUDGE_SCHEDULER_DEFAULT_TIME_ZONE", "is not an IANA time zone: %q", c.DefaultTimeZone)
	}
	if c.BroadcastBatch < 1 {
		e.Fail("NUDGE_SCHEDULER_BROADCAST_BATCH", "must be at least 1, got %d", c.BroadcastBatch)
	}
	if c.BroadcastWindow < 1 {
		e.Fail("NUDGE_SCHEDULER_BROADCAST_WINDOW", "must be at least 1, got %d", c.BroadcastWindow)
	}
	if c.EventBatch < 1 {
		e.Fail("NUDGE_SCHEDULER_EVENT_BATCH", "must be at least 1, got %d", c.EventBatch)
	}
	for name, d := range map[string]time.Duration{
		"NUDGE_SCHEDULER_INTERVAL": c.Interval, "NUDGE_SCHEDULER_LEADER_RETRY": c.LeaderRetry,
		"NUDGE_SCHEDULER_MAX_LATENESS": c.MaxLateness, "NUDGE_SCHEDULER_EVENT_MAX_LATENESS": c.EventMaxLateness,
		"NUDGE_SCHEDULER_EVENT_GAP_GRACE": c.EventGapGrace,
	} {
		if d <= 0 {
			e.Fail(name, "must be positive, got %s", d)
		}
	}
	return c
}

// Scheduler creates flow runs from schedule and event triggers while it
// leads. Create it with New; Start and Stop run its loop.
type Scheduler struct {
	db    *sqlx.DB
	now   func() time.Time
	log   *slog.Logger
	cfg   Config
	elect *elector

	mu       sync.Mutex // guards done, locs, skipped and serialises passes
	done     map[string]time.Time
	skipped  map[string]bool
	locs     map[string]*time.Location
	defLoc   *time.Location
	lagNanos atomic.Int64
	leading  atomic.Bool

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a scheduler on d. now is the clock every due time is computed
// from (time.Now in production; tests drive it).
func New(d *sqlx.DB, now func() time.Time, log *slog.Logger, cfg Config) *Scheduler {
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now = clock.NowOr(now)
	def, err := time.LoadLocation(cfg.DefaultTimeZone)
	if err != nil {
		log.Warn("scheduler default time zone unknown, using UTC", "time_zone", cfg.DefaultTimeZone)
		def = time.UTC
	}
	return &Scheduler{
		db: d, now: now, log: log, cfg: cfg,
		elect:   &elector{db: d.DB, key: cfg.LockKey, log: log},
		done:    map[string]time.Time{},
		skipped: map[string]bool{},
		locs:    map[string]*time.Location{},
		defLoc:  def,
		kick:    make(chan struct{}, 1),
	}
}

// Start runs the leader loop in the background until ctx ends or Stop is
// called: followers try to take the lead every LeaderRetry; the leader runs
// a pass every Interval (or at once after Kick).
func (s *Scheduler) Start(ctx context.Context) error {
	if s.cancel != nil {
		return errors.New("scheduler already started")
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
	return nil
}

// Stop ends the loop, waits for a pass in progress and releases leadership.
func (s *Scheduler) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

// Kick asks the leader for a pass now (e.g. after events were posted or the
// demo clock jumped). It never blocks.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// IsLeader reports whether this instance held the lead at its last check.
func (s *Scheduler) IsLeader() bool { return s.leading.Load() }

// Lag is how late the most recently fired schedule occurrence was processed
// (scheduler clock at firing minus the occurrence's due instant), for the
// scheduler-lag metric.
func (s *Scheduler) Lag() time.Duration { return time.Duration(s.lagNanos.Load()) }

func (s *Scheduler) loop(ctx context.Context) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.elect.release(rctx)
		s.leading.Store(false)
	}()
	for {
		lead, err := s.elect.try(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler leader election failed", "err", err)
		}
		s.leading.Store(lead)
		wait := s.cfg.LeaderRetry
		if lead {
			if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("scheduler pass failed", "err", err)
			}
			wait = s.cfg.Interval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// Stats counts what one pass did.
type Stats struct {
	Occurrences  int // schedule occurrences fired
	ScheduleRuns int
	Events       int // events read past the cursor
	EventRuns    int
	// BroadcastRuns: runs created for broadcasts
	BroadcastRuns int
}

// RunOnce makes one pass: schedule occurrences due by the clock, then new
// events, then batches of due broadcasts. It does not check leadership (Start does); run concurrently from
// two instances it still creates one run per subscriber and trigger.
func (s *Scheduler) RunOnce(ctx context.Context) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	now := s.now()
	rows, err := loadCampaigns(ctx, s.db)
	if err != nil {
		return st, err
	}
	sched, _ := s.byTrigger(rows)
	var errs []error
	if len(sched) > 0 {
		if err := s.schedules(ctx, now, sched, &st); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.events(ctx, now, &st); err != nil {
		errs = append(errs, err)
	}
	if err := s.broadcasts(ctx, now, &st); err != nil {
		errs = append(errs, err)
	}
	// Idempotency keys of the trigger API older than a day are never honoured again.
	if _, err := s.db.ExecContext(ctx, qIdemGC, now.Add(-IdempotencyTTL)); err != nil {
		errs = append(errs, fmt.Errorf("expire idempotency keys: %w", err))
	}
	return st, errors.Join(errs...)
}

// byTrigger decodes active campaign versions and sorts them by trigger;
// a version that does not decode is skipped (and logged once).
func (s *Scheduler) byTrigger(rows []*campaignRow) (sched, events []*campaignRow) {
	for _, c := range rows {
		if err := c.decode(); err != nil {
			s.skip(c, err)
			continue
		}
		switch {
		case c.Def.Trigger.Schedule != nil:
			sched = append(sched, c)
		case c.Def.Trigger.Event != nil:
			events = append(events, c)
		}
	}
	return sched, events
}

func (s *Scheduler) location(name string) *time.Location {
	if l, ok := s.locs[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		s.log.Warn("subscriber time zone unknown, using the default", "time_zone", name, "default", s.cfg.DefaultTimeZone)
		l = s.defLoc
	}
	s.locs[name] = l
	return l
}

// skip logs, once per campaign version, why the scheduler ignores it.
func (s *Scheduler) skip(c *campaignRow, err error) {
	k := c.ID + "\x00" + c.Version
	if s.skipped[k] {
		return
	}
	s.skipped[k] = true
	s.log.Error("scheduler skips campaign version", "campaign_id", c.ID, "campaign_version", c.Version, "err", err)
}
