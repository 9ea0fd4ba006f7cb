package campaigns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/db"
)

// ErrNotFound: no such campaign or version.
var ErrNotFound = errors.New("campaign not found")

// Version identifies one immutable version of a campaign.
type Version struct {
	CampaignID string    `json:"campaign_id" db:"campaign_id"`
	Version    string    `json:"version" db:"version"`
	Number     int       `json:"number" db:"number"`
	CreatedAt  time.Time `json:"created_at" db:"created_at"`
	// AppliedBy is who applied it: "user:EMAIL", "key:NAME" or "cli"
	// (audit.By); "" for versions applied before it was recorded.
	AppliedBy string `json:"applied_by" db:"applied_by"`
}

// Summary is one row of the campaign list.
type Summary struct {
	ID         string     `json:"id" db:"id"`
	Name       string     `json:"name" db:"name"`
	Topic      string     `json:"topic" db:"topic"`
	Version    string     `json:"version" db:"version"`
	Number     int        `json:"number" db:"number"`
	Versions   int        `json:"versions" db:"versions"`
	ArchivedAt *time.Time `json:"archived_at,omitempty" db:"archived_at"`
	UpdatedAt  time.Time  `json:"updated_at" db:"updated_at"`
}

// Stored is a version with its definition and source.
type Stored struct {
	Version
	Def        *Definition `json:"definition"`
	Source     string      `json:"source"`
	SourcePath string      `json:"source_path"`
	Current    bool        `json:"current"`
}

// Store keeps campaigns and their immutable versions in Postgres.
type Store struct {
	d      *sqlx.DB
	now    func() time.Time
	linter *Linter
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithLinter makes Apply lint with l (campaigns/channelcheck.Linter() adds
// the template and channel-limit rules).
func WithLinter(l *Linter) StoreOption { return func(s *Store) { s.linter = l } }

// WithClock sets the clock used for created/updated times.
func WithClock(now func() time.Time) StoreOption { return func(s *Store) { s.now = now } }

// NewStore returns a store on d.
func NewStore(d *sqlx.DB, opts ...StoreOption) *Store {
	s := &Store{d: d, now: time.Now, linter: &Linter{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ContentVersion is the version id of a source: the first 12 hex digits of
// its SHA-256 (line endings normalised, so a checkout on Windows is the same
// version).
func ContentVersion(src []byte) string {
	norm := strings.ReplaceAll(string(src), "\r\n", "\n")
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])[:12]
}

const (
	qLockCampaign = `INSERT INTO campaigns (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`
	qSelectForUpd = `SELECT id FROM campaigns WHERE id = $1 FOR UPDATE`
	qFindVersion  = `SELECT campaign_id, version, number, created_at, applied_by FROM campaign_versions WHERE campaign_id = $1 AND version = $2`
	qNextNumber   = `SELECT COALESCE(MAX(number), 0) + 1 FROM campaign_versions WHERE campaign_id = $1`
	qInsVersion   = `INSERT INTO campaign_versions (campaign_id, version, number, definition, source, source_path, created_at, applied_by)
	                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING campaign_id, version, number, created_at, applied_by`
	qSetCurrent = `UPDATE campaigns SET current_version = $2, archived_at = NULL, updated_at = $3
	                WHERE id = $1 AND (current_version IS DISTINCT FROM $2 OR archived_at IS NOT NULL)`
	qGetVersion = `SELECT v.campaign_id, v.version, v.number, v.created_at, v.applied_by, v.definition, v.source, v.source_path,
	                      (c.current_version = v.version) AS current
	                 FROM campaign_versions v JOIN campaigns c ON c.id = v.campaign_id
	                WHERE v.campaign_id = $1 AND v.version = $2`
	qGetNumber = `SELECT v.campaign_id, v.version, v.number, v.created_at, v.applied_by, v.definition, v.source, v.source_path,
	                     (c.current_version = v.version) AS current
	                FROM campaign_versions v JOIN campaigns c ON c.id = v.campaign_id
	               WHERE v.campaign_id = $1 AND v.number = $2`
	qGetCurrent = `SELECT v.campaign_id, v.version, v.number, v.created_at, v.applied_by, v.definition, v.source, v.source_path, true AS current
	                 FROM campaigns c JOIN campaign_versions v ON v.campaign_id = c.id AND v.version = c.current_version
	                WHERE c.id = $1`
	qActive = `SELECT v.campaign_id, v.version, v.number, v.created_at
	             FROM campaigns c JOIN campaign_versions v ON v.campaign_id = c.id AND v.version = c.current_version
	            WHERE c.archived_at IS NULL ORDER BY c.id`
	qList = `SELECT c.id, COALESCE(v.definition->>'name', '') AS name, COALESCE(v.definition->>'topic', '') AS topic,
	                COALESCE(c.current_version, '') AS version, COALESCE(v.number, 0) AS number,
	                (SELECT count(*) FROM campaign_versions x WHERE x.campaign_id = c.id) AS versions,
	                c.archived_at, c.updated_at
	           FROM campaigns c LEFT JOIN campaign_versions v ON v.campaign_id = c.id AND v.version = c.current_version
	          ORDER BY c.id`
	qVersions = `SELECT campaign_id, version, number, created_at, applied_by FROM campaign_versions WHERE campaign_id = $1 ORDER BY number`
	qArchive  = `UPDATE campaigns SET archived_at = COALESCE(archived_at, $2), updated_at = $2 WHERE id = $1`
)

// Apply stores f as the current version of its campaign. The same content
// is the same version (no new row; it becomes current again if it was not);
// changed content gets the next number. Runs already started keep the
// version they reference. Files with lint problems are refused with a
// Problems error. created reports whether a new version row was written.
func (s *Store) Apply(ctx context.Context, f *File) (Version, bool, error) {
	if f.IsSegment() {
		return Version{}, false, fmt.Errorf("apply %s: a kind: segment file is applied with ApplySegment: %w", f.Path, ErrNotASegment)
	}
	if errs := Errors(s.linter.Lint([]*File{f})); len(errs) > 0 {
		return Version{}, false, Problems(errs)
	}
	if seg := f.Def.Audience.Segment; seg != "" {
		// A campaign may only name a segment that exists (apply segments
		// first); the scheduler reads its current version at each run.
		ok, err := segmentExists(ctx, s.d, seg)
		if err != nil {
			return Version{}, false, err
		}
		if !ok {
			p := f.At("audience.segment")
			return Version{}, false, Problems{{File: f.Path, Line: p.Line, Col: p.Col, Rule: "unknown-segment",
				Msg: fmt.Sprintf("no segment %q has been applied", seg), Hint: "apply its kind: segment file first"}}
		}
	}
	return apply(ctx, s, campaignSQL, f.Def.ID, f, f.Def, func(v Version) int { return v.Number })
}

// versionSQL are the statements that keep one kind of versioned document
// (campaigns, segments), the audit action of applying one and the kind's
// name in errors.
type versionSQL struct {
	lock, forUpdate, find, nextNumber, insert, setCurrent string
	action, kind                                          string
}

var campaignSQL = versionSQL{qLockCampaign, qSelectForUpd, qFindVersion, qNextNumber, qInsVersion, qSetCurrent, "campaign.apply", "campaign"}

// apply stores doc, the definition of f's document id, with applyVersion
// and returns the version row it stored or found (number reads its number)
// and whether it was created; errors name the kind and id.
func apply[V any](ctx context.Context, s *Store, q versionSQL, id string, f *File, doc any, number func(V) int) (V, bool, error) {
	var out V
	def, err := json.Marshal(doc)
	if err != nil {
		return out, false, fmt.Errorf("apply %s %s: %w", q.kind, id, err)
	}
	created, err := s.applyVersion(ctx, q, id, f, def, &out, func() int { return number(out) })
	if err != nil {
		var zero V
		return zero, false, fmt.Errorf("apply %s %s: %w", q.kind, id, err)
	}
	return out, created, nil
}

// applyVersion stores the source of document id (def its definition as
// JSON) as the version its content hash names, makes it current and
// audits that, in one transaction under the document's row lock: the same
// content is the same version, changed content gets the next number. out
// receives the version row and number reads its number; created reports
// whether the row was written now.
func (s *Store) applyVersion(ctx context.Context, q versionSQL, id string, f *File, def []byte, out any, number func() int) (created bool, err error) {
	ver := ContentVersion(f.Source)
	err = db.WithTx(ctx, s.d, func(tx *sqlx.Tx) error {
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, q.lock, id); err != nil {
			return err
		}
		var locked string
		if err := tx.GetContext(ctx, &locked, q.forUpdate, id); err != nil {
			return err
		}
		err := tx.GetContext(ctx, out, q.find, id, ver)
		switch {
		case err == nil:
		case db.IsNoRows(err):
			var n int
			if err := tx.GetContext(ctx, &n, q.nextNumber, id); err != nil {
				return err
			}
			if err := tx.GetContext(ctx, out, q.insert, id, ver, n, def, string(f.Source), f.Path, now, audit.By(ctx)); err != nil {
				return err
			}
			created = true
		default:
			return err
		}
		res, err := tx.ExecContext(ctx, q.setCurrent, id, ver, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 && !created {
			return nil // already the current version: nothing changed
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: q.action, Subject: id,
			Detail: map[string]any{"version": ver, "number": number(), "new_version": created}})
	})
	return created, err
}

type storedRow struct {
	Version
	Definition []byte `db:"definition"`
	Source     string `db:"source"`
	SourcePath string `db:"source_path"`
	Current    bool   `db:"current"`
}

func (r *storedRow) stored() (*Stored, error) {
	var d Definition
	if err := json.Unmarshal(r.Definition, &d); err != nil {
		return nil, fmt.Errorf("decode campaign %s version %s: %w", r.CampaignID, r.Version.Version, err)
	}
	return &Stored{Version: r.Version, Def: &d, Source: r.Source, SourcePath: r.SourcePath, Current: r.Current}, nil
}

// Get returns one version: version is a content hash, a number ("3") or ""
// for the current version.
func (s *Store) Get(ctx context.Context, campaignID, version string) (*Stored, error) {
	var r storedRow
	var err error
	switch n, nerr := strconv.Atoi(strings.TrimPrefix(version, "v")); {
	case version == "":
		err = s.d.GetContext(ctx, &r, qGetCurrent, campaignID)
	case nerr == nil && len(version) < 8:
		err = s.d.GetContext(ctx, &r, qGetNumber, campaignID, n)
	default:
		err = s.d.GetContext(ctx, &r, qGetVersion, campaignID, version)
	}
	if db.IsNoRows(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get campaign %s version %q: %w", campaignID, version, err)
	}
	return r.stored()
}

// Version returns the definition of one version (hash or number).
func (s *Store) Version(ctx context.Context, campaignID, version string) (*Definition, error) {
	if version == "" {
		return nil, ErrNotFound
	}
	st, err := s.Get(ctx, campaignID, version)
	if err != nil {
		return nil, err
	}
	return st.Def, nil
}

// Current returns the current version of a campaign (archived ones too).
func (s *Store) Current(ctx context.Context, campaignID string) (Version, *Definition, error) {
	st, err := s.Get(ctx, campaignID, "")
	if err != nil {
		return Version{}, nil, err
	}
	return st.Version, st.Def, nil
}

// Active returns the current versions of campaigns that are not archived.
func (s *Store) Active(ctx context.Context) ([]Version, error) {
	return db.Select[Version](ctx, s.d, "active campaigns", qActive)
}

// List returns every campaign with its current version.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	return db.Select[Summary](ctx, s.d, "list campaigns", qList)
}

// Versions lists the versions of one campaign, oldest first.
func (s *Store) Versions(ctx context.Context, campaignID string) ([]Version, error) {
	var out []Version
	if err := s.d.SelectContext(ctx, &out, qVersions, campaignID); err != nil {
		return nil, fmt.Errorf("campaign versions: %w", err)
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}

// Archive stops new runs of a campaign (runs already started go on).
// Applying the campaign again brings it back.
func (s *Store) Archive(ctx context.Context, campaignID string) error {
	err := db.WithTx(ctx, s.d, func(tx *sqlx.Tx) error {
		now := s.now().UTC()
		res, err := tx.ExecContext(ctx, qArchive, campaignID, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return ErrNotFound
		}
		return audit.Record(ctx, tx, now, audit.Event{Action: "campaign.archive", Subject: campaignID})
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("archive campaign %s: %w", campaignID, err)
	}
	return err
}

// Diff returns a unified diff of the YAML sources of two versions.
func (s *Store) Diff(ctx context.Context, campaignID, from, to string) (string, error) {
	a, err := s.Get(ctx, campaignID, from)
	if err != nil {
		return "", err
	}
	b, err := s.Get(ctx, campaignID, to)
	if err != nil {
		return "", err
	}
	label := func(st *Stored) string {
		return fmt.Sprintf("%s@%d (%s)", campaignID, st.Number, st.Version.Version)
	}
	return udiff.Unified(label(a), label(b), a.Source, b.Source), nil
}
