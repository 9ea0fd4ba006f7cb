package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("NUDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// fixture writes test rows.
type fixture struct {
	t   testing.TB
	db  *sqlx.DB
	url string
}

func setup(t testing.TB) fixture {
	t.Helper()
	u := testenv.DBURL(t)
	return fixture{t: t, db: testenv.Open(t, u, 20), url: u}
}

type sub struct {
	ext, locale, zone string
	attrs             map[string]any
	erased            bool
}

func (f fixture) subscriber(s sub) int64 {
	f.t.Helper()
	if s.locale == "" {
		s.locale = "ru"
	}
	if s.zone == "" {
		s.zone = "Europe/Moscow"
	}
	if s.attrs == nil {
		s.attrs = map[string]any{}
	}
	a, _ := json.Marshal(s.attrs)
	var erased *time.Time
	if s.erased {
		now := time.Now()
		erased = &now
	}
	var id int64
	err := f.db.Get(&id, `INSERT INTO subscribers (external_id, locale, time_zone, attributes, erased_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, s.ext, s.locale, s.zone, string(a), erased)
	if err != nil {
		f.t.Fatalf("insert subscriber: %v", err)
	}
	return id
}

func (f fixture) consent(id int64, channel, topic string, granted bool) {
	f.t.Helper()
	_, err := f.db.Exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, $2, $3, $4, 'api')`,
		id, channel, topic, granted)
	if err != nil {
		f.t.Fatalf("insert consent: %v", err)
	}
}

func (f fixture) event(id int64, name string, at time.Time, payload string) int64 {
	f.t.Helper()
	if payload == "" {
		payload = "{}"
	}
	var eid int64
	if err := f.db.Get(&eid, `INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload) VALUES ($1, $2, $3, $4) RETURNING id`,
		id, name, at, payload); err != nil {
		f.t.Fatalf("insert event: %v", err)
	}
	return eid
}

// campaign stores def as the current version of its campaign, applied at applied.
func (f fixture) campaign(def campaigns.Definition, applied time.Time) string {
	f.t.Helper()
	if len(def.Steps) == 0 {
		def.Steps = []campaigns.Step{{ID: "hello", Send: &campaigns.SendStep{Template: "hello"}}}
	}
	if def.Topic == "" {
		def.Topic = campaigns.TopicMarketing
	}
	if def.Settings.Channels == nil {
		def.Settings.Channels = []string{"telegram", "sms"}
	}
	b, err := json.Marshal(def)
	if err != nil {
		f.t.Fatal(err)
	}
	var n int
	_ = f.db.Get(&n, `SELECT count(*) FROM campaign_versions WHERE campaign_id = $1`, def.ID)
	version := fmt.Sprintf("v%d", n+1)
	ctx := context.Background()
	if _, err := f.db.ExecContext(ctx, `INSERT INTO campaigns (id) VALUES ($1) ON CONFLICT DO NOTHING`, def.ID); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.db.ExecContext(ctx, `INSERT INTO campaign_versions (campaign_id, version, number, definition, source, created_at)
		VALUES ($1, $2, $3, $4, '', $5)`, def.ID, version, n+1, string(b), applied); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.db.ExecContext(ctx, `UPDATE campaigns SET current_version = $2 WHERE id = $1`, def.ID, version); err != nil {
		f.t.Fatal(err)
	}
	return version
}

type runRow struct {
	ID         int64      `db:"id"`
	Campaign   string     `db:"campaign_id"`
	Version    string     `db:"campaign_version"`
	Subscriber int64      `db:"subscriber_id"`
	Ext        string     `db:"external_id"`
	TriggerKey string     `db:"trigger_key"`
	State      string     `db:"state"`
	Step       string     `db:"step_id"`
	NextAt     *time.Time `db:"next_at"`
	Holdout    bool       `db:"holdout"`
	Context    string     `db:"context"`
}

func (f fixture) runs(campaign string) []runRow {
	f.t.Helper()
	var rows []runRow
	if err := f.db.Select(&rows, `SELECT r.id, r.campaign_id, r.campaign_version, r.subscriber_id, coalesce(s.external_id, '') AS external_id,
		r.trigger_key, r.state, r.step_id, r.next_at, r.holdout, r.context::text AS context
		FROM flow_runs r JOIN subscribers s ON s.id = r.subscriber_id WHERE r.campaign_id = $1 ORDER BY r.id`, campaign); err != nil {
		f.t.Fatal(err)
	}
	return rows
}

func (f fixture) count(query string, args ...any) int {
	f.t.Helper()
	return testenv.Count(f.t, context.Background(), f.db, query, args...)
}

// wantCount fails the test unless query counts want; what names the number.
func (f fixture) wantCount(what string, want int, query string, args ...any) {
	f.t.Helper()
	testenv.WantCount(f.t, context.Background(), f.db, what, want, query, args...)
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// consenting creates n subscribers (external ids prefix1…prefixN), the i-th
// in zones[i % len(zones)], each with marketing consent on channel ("*"
// for every channel).
func (f fixture) consenting(prefix string, n int, channel string, zones ...string) {
	f.t.Helper()
	if _, err := f.db.Exec(`INSERT INTO subscribers (external_id, time_zone)
		SELECT $1 || g, ($2::text[])[1 + g % cardinality($2::text[])] FROM generate_series(1, $3) g`, prefix, pq.Array(zones), n); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.db.Exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source)
		SELECT id, $1, 'marketing', true, 'import' FROM subscribers WHERE external_id LIKE $2 || '%'`, channel, prefix); err != nil {
		f.t.Fatal(err)
	}
}
