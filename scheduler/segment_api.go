package scheduler

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/httpx"
)

// SampleSize is how many members a segment count shows by default.
const SampleSize = 10

// SegmentSummary is one row of the segments list: the segment with its live count.
type SegmentSummary struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Number  int          `json:"number"`
	Topic   string       `json:"topic"`
	Count   SegmentCount `json:"count"`
}

// SegmentSummaries counts every segment at now (one query each, no sample):
// the segments list of the API and the page.
func SegmentSummaries(ctx context.Context, d *sqlx.DB, now time.Time) ([]SegmentSummary, error) {
	segs, err := campaigns.NewStore(d).Segments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SegmentSummary, 0, len(segs))
	for _, s := range segs {
		c, err := CountSegment(ctx, d, s.Def, now, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, SegmentSummary{ID: s.ID, Name: s.Def.Name, Version: s.Version, Number: s.Number, Topic: string(s.Def.Topic()), Count: c})
	}
	return out, nil
}

// CountNamed counts the current version of segment id at now with a sample.
func CountNamed(ctx context.Context, d *sqlx.DB, id string, now time.Time, sample int) (SegmentCount, error) {
	v, err := campaigns.CurrentSegment(ctx, d, id)
	if err != nil {
		return SegmentCount{}, err
	}
	return CountSegment(ctx, d, v.Def, now, sample)
}

func (a *API) segments(w http.ResponseWriter, r *http.Request) {
	list, err := SegmentSummaries(r.Context(), a.db, a.cfg.Now())
	if err != nil {
		httpx.WriteError(w, r, a.cfg.Log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"segments": list})
}

// segmentCount serves GET /v1/segments/{name}/count[?sample=N] (N up to 100).
func (a *API) segmentCount(w http.ResponseWriter, r *http.Request) {
	sample := SampleSize
	if s := r.URL.Query().Get("sample"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 100 {
			httpx.WriteError(w, r, a.cfg.Log, httpx.Errorf(httpx.CodeInvalid, "sample", "sample must be 0 to 100"))
			return
		}
		sample = n
	}
	c, err := CountNamed(r.Context(), a.db, r.PathValue("name"), a.cfg.Now(), sample)
	if errors.Is(err, campaigns.ErrSegmentNotFound) {
		err = httpx.Errorf(httpx.CodeNotFound, "name", "segment not found")
	}
	if err != nil {
		httpx.WriteError(w, r, a.cfg.Log, err)
		return
	}
	a.cfg.Log.InfoContext(r.Context(), "segment counted", "segment_id", c.Segment, "members", c.Total, "ms", c.Ms)
	httpx.WriteJSON(w, http.StatusOK, c)
}
