package web

import (
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/users"
)

// EnableSegments adds the segments page: every saved segment with its live
// count and the split by first reachable channel (scheduler.SegmentSummaries,
// the same counts as GET /v1/segments and nudge segment list).
func (w *Web) EnableSegments(d *sqlx.DB) error {
	return w.enable(func() { w.segDB = d },
		NavItem{Href: "/segments", Label: "Segments", About: "Saved segments and their live sizes", Action: users.CampaignsRead}, []string{"segments"},
		route{"GET /segments", users.CampaignsRead, w.segmentsPage})
}

func (w *Web) segmentsPage(rw http.ResponseWriter, r *http.Request) {
	list, err := scheduler.SegmentSummaries(r.Context(), w.segDB, w.clock.Now())
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	w.Render(rw, r, "segments", "Segments", list)
}
