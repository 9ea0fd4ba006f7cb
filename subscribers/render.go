package subscribers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/templates"
)

// qForTemplates reads subscribers as templates see them.
const qForTemplates = `
SELECT id, coalesce(external_id, '') AS external_id, name, locale, time_zone, attributes
  FROM subscribers WHERE id = ANY($1)`

// ForTemplates loads subscribers as templates see them, by id, in one query
// through q (the worker's claim transaction, preview): the one loader of a
// subscriber for rendering. Unknown ids are absent from the map.
func ForTemplates(ctx context.Context, q db.Executor, ids []int64) (map[int64]templates.Subscriber, error) {
	var rows []struct {
		ID         int64  `db:"id"`
		ExternalID string `db:"external_id"`
		Name       string `db:"name"`
		Locale     string `db:"locale"`
		TimeZone   string `db:"time_zone"`
		Attributes []byte `db:"attributes"`
	}
	if err := q.SelectContext(ctx, &rows, qForTemplates, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("load subscribers: %w", err)
	}
	out := make(map[int64]templates.Subscriber, len(rows))
	for _, r := range rows {
		s := templates.Subscriber{ID: r.ID, ExternalID: r.ExternalID, Name: r.Name, Locale: r.Locale,
			TimeZone: r.TimeZone, Attributes: map[string]any{}}
		if err := json.Unmarshal(r.Attributes, &s.Attributes); err != nil {
			return nil, fmt.Errorf("subscriber %d: decode attributes: %w", r.ID, err)
		}
		out[r.ID] = s
	}
	return out, nil
}
