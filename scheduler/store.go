package scheduler

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/db"
)

// NotifyChannel is the Postgres NOTIFY channel signalled after runs are
// created, so the worker's dispatcher wakes at once instead of polling.
// The payload is the campaign id.
const NotifyChannel = "nudge_runs"

const (
	// Current versions of campaigns that are not archived.
	qActiveCampaigns = `
SELECT c.id, v.version, v.definition, v.created_at
  FROM campaigns c
  JOIN campaign_versions v ON v.campaign_id = c.id AND v.version = c.current_version
 WHERE c.archived_at IS NULL`

	qCampaign = `
SELECT c.id, v.version, v.definition, v.created_at
  FROM campaigns c
  JOIN campaign_versions v ON v.campaign_id = c.id AND v.version = c.current_version
 WHERE c.id = $1 AND c.archived_at IS NULL`

	// Distinct zones of live subscribers by skip scan over subscribers_time_zone.
	qZones = `
WITH RECURSIVE z(tz) AS (
    SELECT min(time_zone) FROM subscribers WHERE erased_at IS NULL
  UNION ALL
    SELECT (SELECT min(time_zone) FROM subscribers WHERE erased_at IS NULL AND time_zone > z.tz)
      FROM z WHERE z.tz IS NOT NULL
)
SELECT tz FROM z WHERE tz IS NOT NULL`

	qClaimOccurrence = `
INSERT INTO scheduler_occurrences (campaign_id, time_zone, wall_time, due_at, fired_at, runs)
VALUES ($1, $2, $3, $4, $5, 0)
ON CONFLICT DO NOTHING
RETURNING 1`

	qOccurrenceFired = `SELECT EXISTS (SELECT 1 FROM scheduler_occurrences WHERE campaign_id = $1 AND time_zone = $2 AND wall_time = $3)`

	qOccurrenceRuns = `UPDATE scheduler_occurrences SET runs = $4 WHERE campaign_id = $1 AND time_zone = $2 AND wall_time = $3`

	// JIT compilation costs ~0.4s on a 100k-row run insert and buys nothing.
	qNoJIT = `SET LOCAL jit = off`

	qNotify = `SELECT pg_notify('` + NotifyChannel + `', $1)`

	qCursorInit = `INSERT INTO scheduler_cursors (name, last_id) VALUES ($1, 0) ON CONFLICT DO NOTHING`
	qCursorLock = `SELECT last_id FROM scheduler_cursors WHERE name = $1 FOR UPDATE`
	qCursorSet  = `UPDATE scheduler_cursors SET last_id = $2, updated_at = now() WHERE name = $1`
	// The next events after the cursor, and whether each is older than the
	// gap grace (see eventsSafeUpTo).
	qEventsAfter = `
SELECT id, created_at < now() - $3::interval AS settled
  FROM subscriber_events
 WHERE id > $1
 ORDER BY id
 LIMIT $2`

	qSubscriberByExternal = `SELECT id FROM subscribers WHERE external_id = $1 AND erased_at IS NULL`

	qIdemExpire = `DELETE FROM api_idempotency WHERE key = $1 AND created_at <= $2`
	qIdemClaim  = `
INSERT INTO api_idempotency (key, campaign_id, request_hash, created_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO NOTHING
RETURNING 1`
	qIdemGet  = `SELECT campaign_id, request_hash, status, response FROM api_idempotency WHERE key = $1`
	qIdemDone = `UPDATE api_idempotency SET status = $2, response = $3 WHERE key = $1`
	qIdemGC   = `DELETE FROM api_idempotency WHERE created_at <= $1`

	qRunByKey = `
SELECT id, campaign_version, holdout, state, next_at
  FROM flow_runs WHERE campaign_id = $1 AND subscriber_id = $2 AND trigger_key = $3`
)

// campaignRow is one active campaign version.
type campaignRow struct {
	ID        string    `db:"id"`
	Version   string    `db:"version"`
	Raw       []byte    `db:"definition"`
	CreatedAt time.Time `db:"created_at"`
	Def       *campaigns.Definition
}

func (c *campaignRow) decode() error {
	var d campaigns.Definition
	if err := json.Unmarshal(c.Raw, &d); err != nil {
		return fmt.Errorf("campaign %s version %s: definition: %w", c.ID, c.Version, err)
	}
	c.Def = &d
	return nil
}

func loadCampaigns(ctx context.Context, q db.Executor) ([]*campaignRow, error) {
	return db.Select[*campaignRow](ctx, q, "load campaigns", qActiveCampaigns)
}

// runSpec describes one set-based creation of runs: the rows of From (which
// binds the subscriber as s) matching Where each get a run.
type runSpec struct {
	Campaign, Version, Step string
	HoldoutPercent          float64
	Now                     time.Time
	From                    string // e.g. "subscribers s"
	Where                   string // predicate, placeholders in Args
	TriggerKey              string // SQL expression
	NextAt                  string // SQL expression
	Context                 string // SQL expression (jsonb)
	Args                    *Args
}

// insertRunsSQL returns the statement for spec; it yields the number of runs created.
func insertRunsSQL(sp runSpec) string {
	a := sp.Args
	c := a.Add(sp.Campaign)
	v := a.Add(sp.Version)
	st := a.Add(sp.Step)
	now := a.Add(sp.Now)
	hold := "false"
	if b := holdoutBasisPoints(sp.HoldoutPercent); b > 0 {
		hold = "((('x' || substr(md5(" + c + "::text || ':' || s.id::text), 1, 8))::bit(32)::bigint % 10000) < " + a.Add(b) + ")"
	}
	return `
WITH ins AS (
INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id,
                       next_at, holdout, context, started_at, updated_at, ended_at)
SELECT ` + c + `, ` + v + `, x.subscriber_id, x.trigger_key,
       CASE WHEN x.holdout THEN 'done' ELSE 'active' END, ` + st + `,
       x.next_at, x.holdout, x.context, ` + now + `, ` + now + `, CASE WHEN x.holdout THEN ` + now + `::timestamptz END
  FROM (SELECT s.id AS subscriber_id, ` + sp.TriggerKey + ` AS trigger_key, ` + sp.NextAt + ` AS next_at,
               ` + sp.Context + ` AS context, ` + hold + ` AS holdout
          FROM ` + sp.From + `
         WHERE ` + sp.Where + `) x
ON CONFLICT (campaign_id, subscriber_id, trigger_key) DO NOTHING
RETURNING 1)
SELECT count(*) FROM ins`
}

// insertRuns runs spec inside tx.
func insertRuns(ctx context.Context, q db.Executor, sp runSpec) (int, error) {
	query := insertRunsSQL(sp)
	if _, err := q.ExecContext(ctx, qNoJIT); err != nil {
		return 0, fmt.Errorf("create runs: %w", err)
	}
	var n int
	if err := q.GetContext(ctx, &n, query, sp.Args.Values()...); err != nil {
		return 0, fmt.Errorf("create runs for %s: %w", sp.Campaign, err)
	}
	return n, nil
}

func notify(ctx context.Context, q db.Executor, campaignID string) error {
	if _, err := q.ExecContext(ctx, qNotify, campaignID); err != nil {
		return fmt.Errorf("notify %s: %w", NotifyChannel, err)
	}
	return nil
}

// holdoutBasisPoints turns a percentage into hundredths of a percent (0–10000).
func holdoutBasisPoints(p float64) int {
	if math.IsNaN(p) || p <= 0 {
		return 0
	}
	if p >= 100 {
		return 10000
	}
	return int(math.Round(p * 100))
}

// Holdout reports whether subscriberID falls in the holdout share of
// campaignID: the first 32 bits of md5("<campaign>:<subscriber>") modulo
// 10000 below percent×100. The SQL that creates runs computes the same, so
// any component (analytics, tests) can recompute who was held out.
func Holdout(campaignID string, subscriberID int64, percent float64) bool {
	b := holdoutBasisPoints(percent)
	if b == 0 {
		return false
	}
	sum := md5.Sum([]byte(campaignID + ":" + strconv.FormatInt(subscriberID, 10)))
	return int(binary.BigEndian.Uint32(sum[:4])%10000) < b
}

// firstStep is where runs of def start.
func firstStep(def *campaigns.Definition) (string, error) {
	if len(def.Steps) == 0 || def.Steps[0].ID == "" {
		return "", fmt.Errorf("campaign %s has no first step", def.ID)
	}
	return def.Steps[0].ID, nil
}

// topicOf is the consent topic a campaign's audience needs.
func topicOf(def *campaigns.Definition) campaigns.Topic {
	if def.Audience.Consent != "" {
		return def.Audience.Consent
	}
	return def.Topic
}
