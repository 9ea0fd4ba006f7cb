package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func weekly(id string, zone string) campaigns.Definition {
	return campaigns.Definition{
		ID: id, Topic: campaigns.TopicMarketing,
		Trigger: campaigns.Trigger{Schedule: &campaigns.ScheduleTrigger{Cron: "0 18 * * 5", Timezone: zone}},
	}
}

// TestScheduleSubscriberZonesAcrossDST drives the clock through three weeks
// spanning the October (Berlin) and November (New York) changes: every
// subscriber's run is due at Friday 18:00 in their own zone.
func TestScheduleSubscriberZonesAcrossDST(t *testing.T) {
	t.Parallel()
	f := setup(t)
	zones := map[string]string{"ny": "America/New_York", "berlin": "Europe/Berlin", "kolkata": "Asia/Kolkata", "mars": "Mars/Olympus"}
	for ext, z := range zones {
		id := f.subscriber(sub{ext: ext, zone: z})
		f.consent(id, "telegram", "marketing", true)
	}
	noConsent := f.subscriber(sub{ext: "quiet", zone: "Europe/Berlin"})
	f.consent(noConsent, "telegram", "service", true)
	start := time.Date(2026, 10, 19, 0, 0, 0, 0, time.UTC)
	version := f.campaign(weekly("renewal", ZoneSubscriber), start.Add(-24*time.Hour))
	clk := clock.NewManual(start)
	s := New(f.db, clk.Now, testLog(t), Config{})
	ctx := context.Background()
	step := 30 * time.Minute
	var maxLag time.Duration
	for now := start; now.Before(start.Add(21 * 24 * time.Hour)); now = now.Add(step) {
		clk.Set(now)
		if _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		maxLag = max(maxLag, s.Lag())
	}
	runs := f.runs("renewal")
	byExt := map[string][]runRow{}
	for _, r := range runs {
		byExt[r.Ext] = append(byExt[r.Ext], r)
		if r.Version != version || r.Step != "hello" || r.State != "active" || r.Holdout {
			t.Errorf("run %+v", r)
		}
	}
	if len(byExt["quiet"]) != 0 {
		t.Errorf("subscriber without marketing consent got runs")
	}
	zones["mars"] = "Europe/Moscow" // unknown zones use the default
	wantWalls := []string{"2026-10-23T18:00", "2026-10-30T18:00", "2026-11-06T18:00"}
	for ext, z := range zones {
		loc := mustLoc(t, z)
		got := byExt[ext]
		if len(got) != len(wantWalls) {
			t.Fatalf("%s: %d runs, want %d", ext, len(got), len(wantWalls))
		}
		for i, r := range got {
			local := r.NextAt.In(loc)
			if local.Weekday() != time.Friday || local.Hour() != 18 || local.Minute() != 0 {
				t.Errorf("%s: run due %s local", ext, local)
			}
			if r.TriggerKey != "schedule:"+wantWalls[i] {
				t.Errorf("%s: trigger_key %s, want schedule:%s", ext, r.TriggerKey, wantWalls[i])
			}
			var c map[string]any
			_ = json.Unmarshal([]byte(r.Context), &c)
			if c["trigger"] != "schedule" {
				t.Errorf("context %s", r.Context)
			}
		}
	}
	if maxLag > step {
		t.Errorf("lag %s exceeds the tick %s", maxLag, step)
	}
	// Re-running the whole period (a restart with an empty memory) changes nothing.
	s2 := New(f.db, clk.Now, testLog(t), Config{MaxLateness: 30 * 24 * time.Hour})
	st, err := s2.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ScheduleRuns != 0 || len(f.runs("renewal")) != len(runs) {
		t.Fatalf("second scheduler created runs: %+v", st)
	}
}

func TestScheduleFixedZoneCatchUpAndLateness(t *testing.T) {
	t.Parallel()
	berlin := mustLoc(t, "Europe/Berlin")
	friday18 := time.Date(2026, 11, 27, 18, 0, 0, 0, berlin)
	tests := []struct {
		name    string
		applied time.Time
		now     time.Time
		cfg     Config
		want    int
	}{
		{"due now", friday18.Add(-time.Hour), friday18, Config{}, 3},
		{"missed by 40m: caught up", friday18.Add(-time.Hour), friday18.Add(40 * time.Minute), Config{}, 3},
		{"missed by 90m: too late", friday18.Add(-time.Hour), friday18.Add(90 * time.Minute), Config{}, 0},
		{"missed by 90m with 2h max lateness", friday18.Add(-time.Hour), friday18.Add(90 * time.Minute), Config{MaxLateness: 2 * time.Hour}, 3},
		{"not yet due", friday18.Add(-time.Hour), friday18.Add(-time.Second), Config{}, 0},
		{"campaign applied after the occurrence", friday18.Add(10 * time.Minute), friday18.Add(20 * time.Minute), Config{}, 0},
		{"applied 'later' by a database clock far ahead of the scheduler's", friday18.Add(10 * 24 * time.Hour), friday18.Add(20 * time.Minute), Config{}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			for i, z := range []string{"America/New_York", "Asia/Kolkata", "Europe/Berlin"} {
				id := f.subscriber(sub{ext: fmt.Sprint(i), zone: z})
				f.consent(id, "*", "marketing", true)
			}
			f.campaign(weekly("menu", "Europe/Berlin"), tc.applied)
			s := New(f.db, func() time.Time { return tc.now }, testLog(t), tc.cfg)
			if _, err := s.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			runs := f.runs("menu")
			if len(runs) != tc.want {
				t.Fatalf("%d runs, want %d", len(runs), tc.want)
			}
			for _, r := range runs {
				if !r.NextAt.Equal(friday18) || r.TriggerKey != "schedule:2026-11-27T18:00" {
					t.Errorf("run %+v", r)
				}
			}
			if tc.want > 0 {
				if lag := s.Lag(); lag != tc.now.Sub(friday18) {
					t.Errorf("lag %s, want %s", lag, tc.now.Sub(friday18))
				}
			}
		})
	}
}

func TestHoldoutRuns(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.consenting("h", 2000, "sms", "Europe/Berlin")
	def := weekly("promo", "Europe/Berlin")
	def.Settings.HoldoutPercent = 20
	applied := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.campaign(def, applied)
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, mustLoc(t, "Europe/Berlin"))
	s := New(f.db, func() time.Time { return now }, testLog(t), Config{})
	st, err := s.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	runs := f.runs("promo")
	if st.ScheduleRuns != 2000 || len(runs) != 2000 {
		t.Fatalf("stats %+v, %d runs", st, len(runs))
	}
	held := 0
	for _, r := range runs {
		if r.Holdout != Holdout("promo", r.Subscriber, 20) {
			t.Fatalf("run %d holdout %v disagrees with Holdout()", r.ID, r.Holdout)
		}
		if r.Holdout {
			held++
			if r.State != "done" {
				t.Fatalf("holdout run in state %s", r.State)
			}
		} else if r.State != "active" {
			t.Fatalf("run in state %s", r.State)
		}
	}
	if held < 320 || held > 480 {
		t.Fatalf("%d of 2000 held out at 20%%", held)
	}
	if n := f.count(`SELECT count(*) FROM flow_runs WHERE holdout AND ended_at IS NULL`); n != 0 {
		t.Fatalf("%d holdout runs without ended_at", n)
	}
}

// TestConcurrentSchedulers runs two schedulers' passes at the same time many
// times (as during a split moment with two leaders): one run per subscriber
// and trigger.
func TestConcurrentSchedulers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.consenting("c", 3000, "*", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
	applied := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.campaign(weekly("renewal", ZoneSubscriber), applied)
	f.campaign(campaigns.Definition{ID: "feedback", Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: "order.delivered", Delay: campaigns.Duration(7 * 24 * time.Hour)}}}, applied)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // after Friday 18:00 in every zone… within lateness for none
	clk := clock.NewManual(now)
	if _, err := f.db.Exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) SELECT id, 'order.delivered', $1 FROM subscribers`, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	a := New(f.db, clk.Now, testLog(t), Config{MaxLateness: 48 * time.Hour, EventBatch: 500})
	b := New(f.db, clk.Now, testLog(t), Config{MaxLateness: 48 * time.Hour, EventBatch: 700})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 5; i++ {
		for _, s := range []*Scheduler{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.RunOnce(ctx); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.wantCount("renewal runs", 3000, `SELECT count(*) FROM flow_runs WHERE campaign_id = 'renewal'`)
	f.wantCount("renewal subscribers", 3000, `SELECT count(DISTINCT subscriber_id) FROM flow_runs WHERE campaign_id = 'renewal'`)
	f.wantCount("feedback runs", 3000, `SELECT count(*) FROM flow_runs WHERE campaign_id = 'feedback'`)
	if n := f.count(`SELECT count(*) FROM scheduler_occurrences`); n != 3 {
		t.Fatalf("occurrences = %d, want one per zone", n)
	}
}

func TestEventTriggers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	applied := now.Add(-24 * time.Hour)
	def := campaigns.Definition{ID: "feedback", Topic: campaigns.TopicService,
		Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: "order.delivered", Delay: campaigns.Duration(7 * 24 * time.Hour)}}}
	f.campaign(def, applied)
	f.campaign(campaigns.Definition{ID: "other", Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: "cart.abandoned"}}}, applied)
	yes := f.subscriber(sub{ext: "yes"})
	f.consent(yes, "telegram", "service", true)
	no := f.subscriber(sub{ext: "no"})
	f.consent(no, "telegram", "marketing", true)

	l := pq.NewListener(f.url, time.Second, time.Minute, nil)
	defer l.Close()
	if err := l.Listen(NotifyChannel); err != nil {
		t.Fatal(err)
	}

	clk := clock.NewManual(now)
	s := New(f.db, clk.Now, testLog(t), Config{EventMaxLateness: 48 * time.Hour})
	ctx := context.Background()
	occurred := now.Add(-2 * time.Hour)
	e1 := f.event(yes, "order.delivered", occurred, `{"order_id": "A-1", "note": "<b>'x'</b>"}`)
	f.event(no, "order.delivered", occurred, "")
	f.event(yes, "order.created", occurred, "")
	f.event(yes, "order.delivered", now.Add(-10*24*time.Hour), "")
	st, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 4 || st.EventRuns != 1 {
		t.Fatalf("stats %+v", st)
	}
	runs := f.runs("feedback")
	if len(runs) != 1 {
		t.Fatalf("runs %+v", runs)
	}
	r := runs[0]
	if r.Ext != "yes" || r.TriggerKey != fmt.Sprintf("event:%d", e1) || !r.NextAt.Equal(occurred.Add(7*24*time.Hour)) || r.State != "active" {
		t.Fatalf("run %+v", r)
	}
	var c struct {
		Trigger string         `json:"trigger"`
		Payload map[string]any `json:"payload"`
		Event   struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"event"`
	}
	if err := json.Unmarshal([]byte(r.Context), &c); err != nil {
		t.Fatal(err)
	}
	if c.Trigger != "event" || c.Payload["order_id"] != "A-1" || c.Payload["note"] != "<b>'x'</b>" || c.Event.ID != e1 || c.Event.Name != "order.delivered" {
		t.Fatalf("context %s", r.Context)
	}
	select {
	case n := <-l.Notify:
		if n == nil || n.Channel != NotifyChannel || n.Extra != "feedback" {
			t.Fatalf("notification %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification on " + NotifyChannel)
	}
	var cursor int64
	_ = f.db.Get(&cursor, `SELECT last_id FROM scheduler_cursors WHERE name = 'events'`)
	var maxID int64
	_ = f.db.Get(&maxID, `SELECT max(id) FROM subscriber_events`)
	if cursor != maxID {
		t.Fatalf("cursor %d, max event %d", cursor, maxID)
	}
	// A pass with nothing new creates nothing.
	if st, err := s.RunOnce(ctx); err != nil || st.Events != 0 || st.EventRuns != 0 {
		t.Fatalf("second pass %+v %v", st, err)
	}
}

// An event whose insert commits after a later id must not be skipped.
func TestEventCursorWaitsForInFlightIDs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f.campaign(campaigns.Definition{ID: "welcome", Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: "signed_up"}}}, now)
	a := f.subscriber(sub{ext: "a"})
	b := f.subscriber(sub{ext: "b"})
	f.consent(a, "*", "marketing", true)
	f.consent(b, "*", "marketing", true)
	s := New(f.db, func() time.Time { return now }, testLog(t), Config{})
	ctx := context.Background()

	tx, err := f.db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'signed_up', $2)`, a, now); err != nil {
		t.Fatal(err)
	}
	f.event(b, "signed_up", now, "") // a later id, committed first
	st, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.EventRuns != 0 {
		t.Fatalf("cursor passed an in-flight id: %+v", st)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err = s.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.EventRuns != 2 || len(f.runs("welcome")) != 2 {
		t.Fatalf("after commit: %+v", st)
	}
	// A rolled-back id leaves a permanent gap: once the event after it is
	// older than the grace, the cursor moves on.
	tx2, _ := f.db.Beginx()
	_, _ = tx2.Exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'signed_up', $2)`, a, now)
	_ = tx2.Rollback()
	f.event(b, "signed_up", now, "")
	if _, err := f.db.Exec(`UPDATE subscriber_events SET created_at = created_at - interval '2 minutes' WHERE id = (SELECT max(id) FROM subscriber_events)`); err != nil {
		t.Fatal(err)
	}
	if st, err := s.RunOnce(ctx); err != nil || st.EventRuns != 1 {
		t.Fatalf("after rollback gap: %+v %v", st, err)
	}
}

func TestArchivedAndBrokenCampaignsAreSkipped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	id := f.subscriber(sub{ext: "x", zone: "UTC"})
	f.consent(id, "*", "marketing", true)
	f.campaign(weekly("archived", "UTC"), now.Add(-time.Hour))
	if _, err := f.db.Exec(`UPDATE campaigns SET archived_at = now() WHERE id = 'archived'`); err != nil {
		t.Fatal(err)
	}
	bad := weekly("badcron", "UTC")
	bad.Trigger.Schedule.Cron = "@every 1h"
	f.campaign(bad, now.Add(-time.Hour))
	badAud := weekly("badaud", "UTC")
	badAud.Audience.Where = []campaigns.Condition{{Attr: "x", Op: "like", Value: "y"}}
	f.campaign(badAud, now.Add(-time.Hour))
	f.campaign(weekly("good", "UTC"), now.Add(-time.Hour))
	var logs bytes.Buffer
	s := New(f.db, func() time.Time { return now }, slog.New(slog.NewTextHandler(&logs, nil)), Config{})
	for i := 0; i < 3; i++ {
		if _, err := s.RunOnce(context.Background()); err != nil {
			t.Fatalf("a broken campaign failed the pass: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "skips campaign version"); n != 2 {
		t.Fatalf("%d skip logs, want one per broken campaign:\n%s", n, logs.String())
	}
	if n := f.count(`SELECT count(*) FROM flow_runs`); n != 1 || len(f.runs("good")) != 1 {
		t.Fatalf("runs = %d", n)
	}
}

// TestCampaignAppliedDuringAPassGetsItsEvents: a pass loads the campaigns
// and schedules; meanwhile an event-triggered campaign is applied and its
// events arrive. The pass then reads those events: it must match them to
// the new campaign, since its cursor moves past them for good. (The pass
// here is held in its scheduling by a lock on flow_runs; without the events
// loop reading its own campaigns it created no runs, and
// TestTwoLeadersAtOnce failed now and then for this.)
func TestCampaignAppliedDuringAPassGetsItsEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.consenting("p", 20, "*", "Europe/Berlin")
	now := time.Date(2026, 11, 27, 18, 30, 0, 0, time.UTC) // Friday 18:00 in Berlin was 1.5h ago
	f.campaign(weekly("renewal", ZoneSubscriber), now.Add(-7*24*time.Hour))
	s := New(f.db, clock.NewManual(now).Now, testLog(t), Config{MaxLateness: 8 * time.Hour})
	ctx := context.Background()

	lock, err := f.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec(`LOCK TABLE flow_runs IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.RunOnce(ctx)
		done <- err
	}()
	testenv.WaitFor(t, "the pass to wait on flow_runs", time.Minute, func() bool {
		return f.count(`SELECT count(*) FROM pg_locks WHERE relation = 'flow_runs'::regclass AND NOT granted`) > 0
	})
	f.campaign(campaigns.Definition{ID: "ev", Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: "x"}}}, now)
	if _, err := f.db.Exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) SELECT id, 'x', $1 FROM subscribers`, now); err != nil {
		t.Fatal(err)
	}
	if err := lock.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.wantCount("renewal runs", 20, `SELECT count(*) FROM flow_runs WHERE campaign_id = 'renewal'`)
	f.wantCount("event runs", 20, `SELECT count(*) FROM flow_runs WHERE campaign_id = 'ev'`)
}
