package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/policy"
)

// Broadcast states. scheduled → running → done; scheduled → cancelled;
// running ⇄ paused.
const (
	BroadcastScheduled = "scheduled"
	BroadcastRunning   = "running"
	BroadcastPaused    = "paused"
	BroadcastDone      = "done"
	BroadcastCancelled = "cancelled"
)

// LocalLayout is the wall time of a broadcast sent in each subscriber's zone.
const LocalLayout = "2006-01-02T15:04"

// Zone offsets span UTC−12 … UTC+14: a wall time occurs somewhere from 14
// hours before it would in UTC until 12 hours after.
const (
	earliestOffset = 14 * time.Hour
	latestOffset   = 12 * time.Hour
)

// Broadcast is a campaign sent once to its audience.
type Broadcast struct {
	ID              int64  `db:"id" json:"id"`
	CampaignID      string `db:"campaign_id" json:"campaign_id"`
	CampaignVersion string `db:"campaign_version" json:"campaign_version"`
	// SendAt is the instant; with LocalTime, the wall time's fields (read
	// them in UTC: 18:00 means 18:00 in each subscriber's zone).
	SendAt     time.Time  `db:"send_at" json:"send_at"`
	LocalTime  bool       `db:"local_time" json:"local_time"`
	State      string     `db:"state" json:"state"`
	Runs       int        `db:"runs" json:"runs"`
	CreatedBy  string     `db:"created_by" json:"created_by"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	StartedAt  *time.Time `db:"started_at" json:"started_at,omitempty"`
	FinishedAt *time.Time `db:"finished_at" json:"finished_at,omitempty"`
	UpdatedAt  time.Time  `db:"updated_at" json:"updated_at"`
}

// When describes SendAt for people: an RFC 3339 instant, or the wall time
// followed by "local".
func (b Broadcast) When() string {
	if b.LocalTime {
		return b.SendAt.UTC().Format(LocalLayout) + " local"
	}
	return b.SendAt.UTC().Format(time.RFC3339)
}

// BroadcastRequest is the body of POST /v1/broadcasts and of a dry run.
type BroadcastRequest struct {
	Campaign string `json:"campaign"`
	// SendAt is an RFC 3339 instant, or with LocalTime a wall time
	// "2006-01-02T15:04" read in each subscriber's zone; empty means now.
	SendAt    string `json:"send_at,omitempty"`
	LocalTime bool   `json:"local_time,omitempty"`
}

// DryRun is what a broadcast would do if it went now as planned: how many
// match the audience's conditions, how many would get it on each channel,
// and how many policy would skip, by reason (quiet_hours ones are deferred
// to the end of the quiet hours, not dropped).
type DryRun struct {
	CampaignID      string         `json:"campaign_id"`
	CampaignVersion string         `json:"campaign_version"`
	SendAt          time.Time      `json:"send_at"`
	LocalTime       bool           `json:"local_time"`
	Audience        int            `json:"audience"`
	Holdout         int            `json:"holdout"`
	Send            int            `json:"send"`
	Channels        map[string]int `json:"channels"`
	Skipped         map[string]int `json:"skipped"`
	ElapsedMS       int64          `json:"elapsed_ms"`
}

// ErrBroadcastNotFound: no broadcast with that id.
var ErrBroadcastNotFound = errors.New("broadcast not found")

// ErrIdempotencyConflict: an Idempotency-Key reused with another request.
var ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")

const (
	qBroadcastCols = `id, campaign_id, campaign_version, send_at, local_time, state, runs, created_by,
       created_at, started_at, finished_at, updated_at`

	qBroadcastInsert = `
INSERT INTO broadcasts (campaign_id, campaign_version, send_at, local_time, idempotency_key, request_hash,
                        created_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING ` + qBroadcastCols

	qBroadcastByKey  = `SELECT request_hash, ` + qBroadcastCols + ` FROM broadcasts WHERE idempotency_key = $1`
	qBroadcastGet    = `SELECT ` + qBroadcastCols + ` FROM broadcasts WHERE id = $1`
	qBroadcastList   = `SELECT ` + qBroadcastCols + ` FROM broadcasts ORDER BY id DESC LIMIT $1`
	qBroadcastSwitch = `
UPDATE broadcasts SET state = $3, updated_at = $4
 WHERE id = $1 AND state = ANY($2)
RETURNING ` + qBroadcastCols

	// Broadcasts whose first zone may be due: at once, or up to 14 hours
	// before a local wall time.
	qBroadcastsDue = `
SELECT id FROM broadcasts
 WHERE state IN ('scheduled', 'running') AND send_at <= $1::timestamptz + CASE WHEN local_time THEN interval '14 hours' ELSE interval '0' END
 ORDER BY id`
	qBroadcastLock    = `SELECT state FROM broadcasts WHERE id = $1 FOR UPDATE`
	qBroadcastStarted = `UPDATE broadcasts SET state = 'running', started_at = $2, updated_at = $2 WHERE id = $1 AND state = 'scheduled'`
	qBroadcastAdd     = `UPDATE broadcasts SET runs = runs + $2, updated_at = $3 WHERE id = $1`
	qBroadcastDone    = `UPDATE broadcasts SET state = 'done', finished_at = $2, updated_at = $2 WHERE id = $1 AND state = 'running'`

	qZoneInit = `
INSERT INTO broadcast_zones (broadcast_id, time_zone, due_at) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING`
	qZoneGet     = `SELECT last_id, done FROM broadcast_zones WHERE broadcast_id = $1 AND time_zone = $2`
	qZoneAdvance = `UPDATE broadcast_zones SET last_id = $3, runs = runs + $4 WHERE broadcast_id = $1 AND time_zone = $2`
	qZoneDone    = `UPDATE broadcast_zones SET done = true WHERE broadcast_id = $1 AND time_zone = $2`
	qZonesDone   = `SELECT time_zone FROM broadcast_zones WHERE broadcast_id = $1 AND done`

	// Runs of a broadcast created and due but not worked yet: the scheduler
	// keeps at most BroadcastWindow of them, so a pause holds back the rest.
	qBroadcastOutstanding = `
SELECT count(*) FROM flow_runs
 WHERE campaign_id = $1 AND trigger_key = $2 AND state = 'active' AND next_at <= $3`

	qVersionDef = `SELECT definition FROM campaign_versions WHERE campaign_id = $1 AND version = $2`

	// A pause holds the broadcast's runs created and not yet worked (still
	// at their first transition, step_seq 0) in state paused, keeping their
	// next_at; runs a worker holds now (its claim locks them) are skipped:
	// they are being sent. A hand-off's pause bumps step_seq and clears
	// next_at, so resume never touches a run a conversation paused.
	qBroadcastHold = `
UPDATE flow_runs f SET state = 'paused', updated_at = now()
  FROM (SELECT id FROM flow_runs
         WHERE campaign_id = $1 AND trigger_key = $2 AND state = 'active' AND step_seq = 0
           FOR NO KEY UPDATE SKIP LOCKED) h
 WHERE f.id = h.id`
	qBroadcastRelease = `
UPDATE flow_runs SET state = 'active', updated_at = now()
 WHERE campaign_id = $1 AND trigger_key = $2 AND state = 'paused' AND step_seq = 0 AND next_at IS NOT NULL`
)

// Broadcasts creates, lists and steers broadcasts; the Scheduler creates
// their runs. The API, the CLI and the web page all call it.
type Broadcasts struct {
	db     *sqlx.DB
	now    func() time.Time
	log    *slog.Logger
	defLoc *time.Location
}

// NewBroadcasts returns the broadcasts of d on the clock now. defaultZone
// is the zone of subscribers whose time_zone is not an IANA name (the
// scheduler's DefaultTimeZone).
func NewBroadcasts(d *sqlx.DB, now func() time.Time, log *slog.Logger, defaultZone string) *Broadcasts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now = clock.NowOr(now)
	def, err := time.LoadLocation(defaultZone)
	if err != nil || defaultZone == "" {
		def, _ = time.LoadLocation(Config{}.WithDefaults().DefaultTimeZone)
	}
	return &Broadcasts{db: d, now: now, log: log, defLoc: def}
}

// plan is a validated request.
type plan struct {
	camp   campaignRow
	sendAt time.Time
	local  bool
	asap   bool // no send_at: now, whenever the request is repeated
}

// validate checks req against the campaign's current version; errors are
// *httpx.Error naming the field.
func (b *Broadcasts) validate(ctx context.Context, req BroadcastRequest, now time.Time) (plan, error) {
	var p plan
	if strings.TrimSpace(req.Campaign) == "" {
		return p, httpx.Errorf(httpx.CodeInvalid, "campaign", "is required: the id of an applied campaign")
	}
	if err := b.db.GetContext(ctx, &p.camp, qCampaign, req.Campaign); err != nil {
		if db.IsNoRows(err) {
			return p, httpx.Errorf(httpx.CodeNotFound, "campaign", "campaign %q does not exist or is archived", req.Campaign)
		}
		return p, fmt.Errorf("load campaign: %w", err)
	}
	if err := p.camp.decode(); err != nil {
		return p, err
	}
	if _, err := firstStep(p.camp.Def); err != nil {
		return p, httpx.Errorf(httpx.CodeInvalid, "campaign", "campaign %q has no steps", req.Campaign)
	}
	p.local = req.LocalTime
	switch {
	case req.SendAt == "" && req.LocalTime:
		return p, httpx.Errorf(httpx.CodeInvalid, "send_at", "is required with local_time: a wall time such as 2026-12-24T18:00")
	case req.SendAt == "":
		p.sendAt, p.asap = now, true
	case req.LocalTime:
		t, err := time.Parse(LocalLayout, req.SendAt)
		if err != nil {
			return p, httpx.Errorf(httpx.CodeInvalid, "send_at", "with local_time must be a wall time without zone, such as 2026-12-24T18:00")
		}
		if t.Add(latestOffset).Before(now) {
			return p, httpx.Errorf(httpx.CodeInvalid, "send_at", "%s has passed in every time zone", req.SendAt)
		}
		p.sendAt = t
	default:
		t, err := time.Parse(time.RFC3339, req.SendAt)
		if err != nil {
			return p, httpx.Errorf(httpx.CodeInvalid, "send_at", "must be an RFC 3339 instant such as 2026-12-24T18:00:00+03:00")
		}
		if t.Before(now.Add(-time.Minute)) {
			return p, httpx.Errorf(httpx.CodeInvalid, "send_at", "%s is in the past", req.SendAt)
		}
		p.sendAt = t.UTC()
	}
	return p, nil
}

// broadcastHash identifies a request for idempotency: its fields as
// validated (so "+03:00" and the same instant in UTC are one request; "now"
// is one request whenever repeated).
func broadcastHash(p plan) string {
	when := "now"
	if !p.asap {
		when = p.sendAt.UTC().Format(time.RFC3339Nano)
	}
	h := sha256.Sum256([]byte(p.camp.ID + "\x00" + when + "\x00" + strconv.FormatBool(p.local)))
	return hex.EncodeToString(h[:])
}

// Create schedules a broadcast of the campaign's current version. With a
// key, the same key and request return the broadcast it created (created
// false); the same key with another request is ErrIdempotencyConflict.
func (b *Broadcasts) Create(ctx context.Context, req BroadcastRequest, key string) (Broadcast, bool, error) {
	now := b.now()
	if err := checkKey(key); err != nil {
		return Broadcast{}, false, err
	}
	p, err := b.validate(ctx, req, now)
	if err != nil {
		return Broadcast{}, false, err
	}
	hash := broadcastHash(p)
	var k *string
	if key != "" {
		k = &key
	}
	var rows []Broadcast
	err = db.WithTx(ctx, b.db, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &rows, qBroadcastInsert, p.camp.ID, p.camp.Version, p.sendAt, p.local, k, hash, audit.By(ctx), now); err != nil {
			return fmt.Errorf("create broadcast: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: "broadcast.create", Subject: "broadcast:" + strconv.FormatInt(rows[0].ID, 10),
			Detail: map[string]any{"campaign_id": p.camp.ID, "campaign_version": p.camp.Version, "send_at": rows[0].When()}})
	})
	if err != nil {
		return Broadcast{}, false, err
	}
	if len(rows) == 1 {
		b.log.InfoContext(ctx, "broadcast created", "broadcast_id", rows[0].ID, "campaign_id", p.camp.ID, "send_at", rows[0].When())
		return rows[0], true, nil
	}
	var prev struct {
		Hash string `db:"request_hash"`
		Broadcast
	}
	if err := b.db.GetContext(ctx, &prev, qBroadcastByKey, key); err != nil {
		return Broadcast{}, false, fmt.Errorf("read broadcast by key: %w", err)
	}
	if prev.Hash != hash {
		return Broadcast{}, false, ErrIdempotencyConflict
	}
	return prev.Broadcast, false, nil
}

// Get returns one broadcast.
func (b *Broadcasts) Get(ctx context.Context, id int64) (Broadcast, error) {
	var out Broadcast
	if err := b.db.GetContext(ctx, &out, qBroadcastGet, id); err != nil {
		if db.IsNoRows(err) {
			return out, fmt.Errorf("%w: %d", ErrBroadcastNotFound, id)
		}
		return out, fmt.Errorf("get broadcast: %w", err)
	}
	return out, nil
}

// List returns the newest broadcasts first.
func (b *Broadcasts) List(ctx context.Context, limit int) ([]Broadcast, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return db.Select[Broadcast](ctx, b.db, "list broadcasts", qBroadcastList, limit)
}

// Cancel stops a broadcast that has not started.
func (b *Broadcasts) Cancel(ctx context.Context, id int64) (Broadcast, error) {
	return b.switchState(ctx, id, []string{BroadcastScheduled}, BroadcastCancelled, "only a scheduled broadcast can be cancelled (it has not started)")
}

// Pause stops the creation of a running broadcast's runs and holds those
// created and not yet worked; see docs/campaigns.md.
func (b *Broadcasts) Pause(ctx context.Context, id int64) (Broadcast, error) {
	return b.switchState(ctx, id, []string{BroadcastRunning}, BroadcastPaused, "only a running broadcast can be paused")
}

// Resume lets a paused broadcast go on.
func (b *Broadcasts) Resume(ctx context.Context, id int64) (Broadcast, error) {
	return b.switchState(ctx, id, []string{BroadcastPaused}, BroadcastRunning, "only a paused broadcast can be resumed")
}

// switchState moves a broadcast from one of from to to; the scheduler
// locks the row for each batch, so the switch takes effect before its next
// batch.
func (b *Broadcasts) switchState(ctx context.Context, id int64, from []string, to, why string) (Broadcast, error) {
	var rows []Broadcast
	now := b.now()
	err := db.WithTx(ctx, b.db, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &rows, qBroadcastSwitch, id, pq.Array(from), to, now); err != nil {
			return fmt.Errorf("broadcast %d to %s: %w", id, to, err)
		}
		if len(rows) == 0 {
			return nil
		}
		if err := holdRuns(ctx, tx, rows[0], to); err != nil {
			return err
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: "broadcast." + verbOf[to], Subject: "broadcast:" + strconv.FormatInt(id, 10)})
	})
	if err != nil {
		return Broadcast{}, err
	}
	if len(rows) == 1 {
		b.log.InfoContext(ctx, "broadcast "+to, "broadcast_id", id)
		return rows[0], nil
	}
	cur, err := b.Get(ctx, id)
	if err != nil {
		return Broadcast{}, err
	}
	return cur, httpx.Errorf(httpx.CodeConflict, "state", "broadcast %d is %s: %s", id, cur.State, why)
}

// holdRuns holds a paused broadcast's unworked runs, or lets them go on
// when it resumes, in the transaction that switches its state.
func holdRuns(ctx context.Context, tx *sqlx.Tx, b Broadcast, to string) error {
	q := ""
	switch to {
	case BroadcastPaused:
		q = qBroadcastHold
	case BroadcastRunning:
		q = qBroadcastRelease
	default:
		return nil
	}
	if _, err := tx.ExecContext(ctx, q, b.CampaignID, triggerKeyOf(b.ID)); err != nil {
		return fmt.Errorf("broadcast %d: %s its runs: %w", b.ID, verbOf[to], err)
	}
	return nil
}

// verbOf names a switch to a state in the audit log.
var verbOf = map[string]string{BroadcastCancelled: "cancel", BroadcastPaused: "pause", BroadcastRunning: "resume"}

// DryRun says what a broadcast of req would do: it streams the audience's
// members (its conditions, consent aside) and asks policy.DecideMany about
// each at the moment each would get it.
func (b *Broadcasts) DryRun(ctx context.Context, req BroadcastRequest) (DryRun, error) {
	start := time.Now()
	now := b.now()
	p, err := b.validate(ctx, req, now)
	if err != nil {
		return DryRun{}, err
	}
	def := p.camp.Def
	out := DryRun{CampaignID: p.camp.ID, CampaignVersion: p.camp.Version, SendAt: p.sendAt, LocalTime: p.local,
		Channels: map[string]int{}, Skipped: map[string]int{}}
	args := &Args{}
	where, err := AudienceWhere(def.Audience, AudienceTarget{Topic: topicOf(def), Channels: def.Settings.Channels, Now: now, AnyConsent: true, Accounts: accountsOf(def)}, args)
	if err != nil {
		return out, httpx.Errorf(httpx.CodeInvalid, "campaign", "%v", err)
	}
	after := args.Add(int64(0))
	q := `SELECT s.id, s.time_zone FROM subscribers s WHERE ` + where + ` AND s.id > ` + after + ` ORDER BY s.id LIMIT ` + args.Add(policyChunk)
	template := firstTemplate(def)
	candidates := policy.Candidates(def.Settings)
	locs := map[string]time.Time{}
	vals := args.Values()
	for {
		var rows []struct {
			ID   int64  `db:"id"`
			Zone string `db:"time_zone"`
		}
		if err := b.db.SelectContext(ctx, &rows, q, vals...); err != nil {
			return out, fmt.Errorf("dry run audience: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		vals[len(vals)-2] = rows[len(rows)-1].ID
		// Group the chunk by the instant each member would get it.
		groups := map[time.Time][]int64{}
		for _, r := range rows {
			out.Audience++
			if Holdout(p.camp.ID, r.ID, def.Settings.HoldoutPercent) {
				out.Holdout++
				continue
			}
			at := p.sendAt
			if p.local {
				var ok bool
				if at, ok = locs[r.Zone]; !ok {
					at = localInstant(p.sendAt, zoneOr(r.Zone, b.defLoc))
					locs[r.Zone] = at
				}
			}
			if at.Before(now) {
				at = now
			}
			groups[at] = append(groups[at], r.ID)
		}
		for at, ids := range groups {
			ds, err := policy.DecideMany(ctx, b.db, ids, def, template, candidates, at)
			if err != nil {
				return out, fmt.Errorf("dry run: %w", err)
			}
			for _, d := range ds {
				if d.Send {
					out.Send++
					out.Channels[string(d.Channel)]++
				} else {
					out.Skipped[d.Reason]++
				}
			}
		}
		if len(rows) < policyChunk {
			break
		}
	}
	out.ElapsedMS = time.Since(start).Milliseconds()
	return out, nil
}

// policyChunk is how many members a dry run decides at once (policy's own
// query chunk).
const policyChunk = 5000

// firstTemplate is the template of the first send step a run reaches
// without a reply (the one a dry run asks policy about), "" if none.
func firstTemplate(def *campaigns.Definition) string {
	byID := map[string]campaigns.Step{}
	for _, s := range def.Steps {
		byID[s.ID] = s
	}
	for i, s := 0, def.Steps[0]; i < len(def.Steps); i++ {
		if s.Send != nil {
			return s.Send.Template
		}
		next, ok := byID[s.Next]
		if s.Next == "" || !ok {
			return ""
		}
		s = next
	}
	return ""
}

// localInstant is when the wall time (fields in UTC) occurs in loc, by the
// schedule triggers' DST rule (resolve).
func localInstant(wall time.Time, loc *time.Location) time.Time {
	at, _ := resolve(wallOf(wall.UTC()), loc)
	return at
}

// zoneOr is the named zone, def when the name is not an IANA zone.
func zoneOr(name string, def *time.Location) *time.Location {
	if name == "" || name == "Local" {
		return def
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return def
	}
	return l
}

// triggerKeyOf is the trigger_key of a broadcast's runs.
func triggerKeyOf(id int64) string { return "broadcast:" + strconv.FormatInt(id, 10) }

// broadcastContext is the context of a broadcast's runs.
func broadcastContext(id int64) string {
	b, _ := json.Marshal(map[string]any{"trigger": "broadcast", "broadcast_id": id})
	return string(b)
}

// Campaigns lists the ids of the campaigns a broadcast may send (applied,
// not archived).
func (b *Broadcasts) Campaigns(ctx context.Context) ([]string, error) {
	rows, err := loadCampaigns(ctx, b.db)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rows))
	for _, c := range rows {
		out = append(out, c.ID)
	}
	sort.Strings(out)
	return out, nil
}
