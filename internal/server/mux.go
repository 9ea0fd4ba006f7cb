package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/users"
)

// Route is a registered pattern and the action it lets its caller do.
type Route struct {
	Pattern string
	Action  users.Action
}

// Mux is the one way to mount a route: Handle takes the route's action, so
// no route exists without its role check (users.Require). Routes lists
// them for the route × role test.
type Mux struct {
	m      *http.ServeMux
	routes []Route
	// Forbidden, when set, renders the refusal of a page (not /v1/) to a
	// signed-in user whose role may not; web sets it to its page.
	Forbidden http.Handler
}

// NewMux returns an empty mux.
func NewMux() *Mux { return &Mux{m: http.NewServeMux()} }

// Handle mounts h on pattern behind users.Require(a).
func (m *Mux) Handle(pattern string, a users.Action, h http.Handler) {
	m.routes = append(m.routes, Route{Pattern: pattern, Action: a})
	m.m.Handle(pattern, users.Require(a, m.deny, h))
}

// HandleFunc is Handle for a function.
func (m *Mux) HandleFunc(pattern string, a users.Action, h http.HandlerFunc) {
	m.Handle(pattern, a, h)
}

// Routes returns the registered routes in registration order.
func (m *Mux) Routes() []Route { return append([]Route(nil), m.routes...) }

// ServeHTTP serves the request with the matching route.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.m.ServeHTTP(w, r) }

// deny answers a refused request: the JSON error shape on the API (and for
// API keys), otherwise the sign-in page for a GET of nobody signed in, or
// the forbidden page.
func (m *Mux) deny(w http.ResponseWriter, r *http.Request, status int, msg string) {
	api := strings.HasPrefix(r.URL.Path, "/v1/") || r.Header.Get("Authorization") != ""
	switch {
	case api && status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="nudge"`)
		httpx.WriteError(w, r, nil, httpx.Errorf(httpx.CodeUnauthorized, "", "%s", msg))
	case api:
		httpx.WriteError(w, r, nil, httpx.Errorf(httpx.CodeForbidden, "", "%s", msg))
	case status == http.StatusUnauthorized && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	case status == http.StatusForbidden && m.Forbidden != nil && !strings.Contains(msg, "CSRF"):
		w.WriteHeader(status)
		m.Forbidden.ServeHTTP(w, r)
	default:
		http.Error(w, msg, status)
	}
}
