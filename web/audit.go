package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/users"
)

// EnableAudit adds the admins' audit log page and records sign-ins and
// sign-outs in the log on d.
func (w *Web) EnableAudit(d db.Executor) error {
	return w.enable(func() { w.db = d },
		NavItem{Href: "/audit", Label: "Audit", About: "Who did what, when, from where", Action: users.AuditRead}, []string{"audit"},
		route{"GET /audit", users.AuditRead, w.auditPage})
}

type auditData struct {
	Q       url.Values
	Entries []audit.Entry
	Error   string
	Next    string // the query of the next (older) page, "" on the last
}

func (w *Web) auditPage(rw http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := auditData{Q: q}
	f, err := audit.ParseFilter(q)
	var he *httpx.Error
	switch {
	case errors.As(err, &he):
		rw.WriteHeader(http.StatusBadRequest)
		data.Error = he.Field + ": " + he.Message
	case err == nil:
		if f.Limit == 0 {
			f.Limit = 100
		}
		if data.Entries, err = audit.List(r.Context(), w.db, f); err != nil {
			w.fail(rw, r, err)
			return
		}
		if n := len(data.Entries); n == f.Limit {
			next := url.Values{}
			for k, v := range q {
				next[k] = v
			}
			next.Set("before", strconv.FormatInt(data.Entries[n-1].ID, 10))
			data.Next = next.Encode()
		}
	}
	w.Render(rw, r, "audit", "Audit log", data)
}
