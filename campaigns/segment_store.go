package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nudge-engine/nudge/internal/db"
)

// Segments are stored as campaigns are: immutable versions keyed by their
// content hash, the newest applied one current. A campaign names a segment
// by id and reads its current version when its audience is evaluated, so a
// changed segment changes who the next runs are for.

// ErrSegmentNotFound: no such segment.
var ErrSegmentNotFound = errors.New("segment not found")

// ErrNotASegment is returned when a campaign file is applied as a segment or
// a segment file as a campaign.
var ErrNotASegment = errors.New("not a segment file")

// SegmentVersion is one stored segment with its current version.
type SegmentVersion struct {
	ID        string   `json:"id" db:"segment_id"`
	Version   string   `json:"version" db:"version"`
	Number    int      `json:"number" db:"number"`
	AppliedBy string   `json:"applied_by" db:"applied_by"`
	Def       *Segment `json:"definition" db:"-"`
	Source    string   `json:"source" db:"source"`
}

const (
	qLockSegment    = `INSERT INTO segments (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`
	qSegmentForUpd  = `SELECT id FROM segments WHERE id = $1 FOR UPDATE`
	qFindSegmentVer = `SELECT segment_id, version, number, applied_by, source FROM segment_versions WHERE segment_id = $1 AND version = $2`
	qNextSegmentNum = `SELECT COALESCE(MAX(number), 0) + 1 FROM segment_versions WHERE segment_id = $1`
	qInsSegmentVer  = `INSERT INTO segment_versions (segment_id, version, number, definition, source, source_path, created_at, applied_by)
	                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING segment_id, version, number, applied_by, source`
	qSetSegmentCurrent = `UPDATE segments SET current_version = $2, updated_at = $3 WHERE id = $1 AND current_version IS DISTINCT FROM $2`
	qSegmentCurrent    = `SELECT v.segment_id, v.version, v.number, v.applied_by, v.source, v.definition
	                        FROM segments s JOIN segment_versions v ON v.segment_id = s.id AND v.version = s.current_version`
	qSegmentExists = `SELECT EXISTS (SELECT 1 FROM segments WHERE id = $1 AND current_version IS NOT NULL)`
)

var segmentSQL = versionSQL{qLockSegment, qSegmentForUpd, qFindSegmentVer, qNextSegmentNum, qInsSegmentVer, qSetSegmentCurrent, "segment.apply", "segment"}

type segmentRow struct {
	SegmentVersion
	Definition []byte `db:"definition"`
}

func (r segmentRow) decode() (SegmentVersion, error) {
	var s Segment
	if err := json.Unmarshal(r.Definition, &s); err != nil {
		return SegmentVersion{}, fmt.Errorf("decode segment %s version %s: %w", r.ID, r.Version, err)
	}
	v := r.SegmentVersion
	v.Def = &s
	return v, nil
}

// ApplySegment stores the segment file f as the current version of its
// segment, as Apply does for a campaign: lint first, the same content is the
// same version, changed content gets the next number.
func (s *Store) ApplySegment(ctx context.Context, f *File) (SegmentVersion, bool, error) {
	if !f.IsSegment() {
		return SegmentVersion{}, false, fmt.Errorf("apply %s: %w", f.Path, ErrNotASegment)
	}
	if errs := Errors(s.linter.Lint([]*File{f})); len(errs) > 0 {
		return SegmentVersion{}, false, Problems(errs)
	}
	out, created, err := apply(ctx, s, segmentSQL, f.Segment.ID, f, f.Segment, func(v SegmentVersion) int { return v.Number })
	if err != nil {
		return SegmentVersion{}, false, err
	}
	out.Def = f.Segment
	return out, created, nil
}

// Segment returns the current version of segment id.
func (s *Store) Segment(ctx context.Context, id string) (SegmentVersion, error) {
	return CurrentSegment(ctx, s.d, id)
}

// CurrentSegment returns the current version of segment id, read with q (the
// scheduler reads it in the transaction that creates runs).
func CurrentSegment(ctx context.Context, q db.Executor, id string) (SegmentVersion, error) {
	var r segmentRow
	err := q.GetContext(ctx, &r, qSegmentCurrent+` WHERE s.id = $1`, id)
	if db.IsNoRows(err) {
		return SegmentVersion{}, fmt.Errorf("segment %q: %w", id, ErrSegmentNotFound)
	}
	if err != nil {
		return SegmentVersion{}, fmt.Errorf("segment %q: %w", id, err)
	}
	return r.decode()
}

// Segments returns the current version of every segment, by id.
func (s *Store) Segments(ctx context.Context) ([]SegmentVersion, error) {
	var rows []segmentRow
	if err := s.d.SelectContext(ctx, &rows, qSegmentCurrent+` ORDER BY s.id`); err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	out := make([]SegmentVersion, 0, len(rows))
	for _, r := range rows {
		v, err := r.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// segmentExists reports whether segment id has a current version.
func segmentExists(ctx context.Context, q db.Executor, id string) (bool, error) {
	var ok bool
	if err := q.GetContext(ctx, &ok, qSegmentExists, id); err != nil {
		return false, fmt.Errorf("segment %q: %w", id, err)
	}
	return ok, nil
}
