package audit

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// ParseFilter reads a Filter from a query string (the API's and the page's):
// actor, action, subject, subscriber_id, since and until (RFC 3339),
// before (an entry id) and limit.
func ParseFilter(q url.Values) (Filter, error) {
	f := Filter{Actor: q.Get("actor"), Action: q.Get("action"), Subject: q.Get("subject")}
	if err := httpx.QueryIDs(q, httpx.IDParam{Name: "subscriber_id", Dst: &f.SubscriberID}, httpx.IDParam{Name: "before", Dst: &f.Before}); err != nil {
		return f, err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, httpx.Errorf(httpx.CodeInvalid, p.name, "must be an RFC 3339 time")
			}
			*p.dst = t
		}
	}
	if err := httpx.QueryInt(q, "limit", 1, 1000, "must be 1 to 1000", &f.Limit); err != nil {
		return f, err
	}
	return f, nil
}

// API serves GET /v1/audit to admins.
type API struct {
	DB  db.Executor
	Log *slog.Logger
}

// Register mounts the route.
func (a *API) Register(mux *server.Mux) {
	mux.HandleFunc("GET /v1/audit", users.AuditRead, httpx.Handle(http.StatusOK, a.fail, queryFilter, a.list))
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, a.Log, err)
}

func queryFilter(_ http.ResponseWriter, r *http.Request) (Filter, error) {
	return ParseFilter(r.URL.Query())
}

func (a *API) list(ctx context.Context, f Filter) (map[string]any, error) {
	es, err := List(ctx, a.DB, f)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"entries": es}
	if n := len(es); n > 0 && n == f.limit() {
		body["next_before"] = es[n-1].ID // more may follow: ?before= this
	}
	return body, nil
}
