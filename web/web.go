package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/policy"
	"github.com/nudge-engine/nudge/users"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// NavItem is a link in the top bar and on the start page.
type NavItem struct {
	Href, Label, About string
	Action             users.Action // shown to roles that may
}

// Page is what every template gets.
type Page struct {
	Title   string
	Lang    string
	Session *users.Session
	Nav     []NavItem
	Data    any
	// Clock describes a simulated engine clock (the demo's), "" for the
	// wall clock; every page says so, since its figures are in that time.
	Clock string
	Now   time.Time // engine time
}

// Web serves the pages. Sections (inbox, dashboard) add themselves with Section.
type Web struct {
	users    *users.Store
	log      *slog.Logger
	secure   bool
	pages    map[string]*template.Template
	nav      []NavItem
	inbox    *inbox.Service
	canned   *inbox.Canned
	dash     *analytics.Store
	settings func(ctx context.Context) (Settings, error)
	eraser   Eraser
	db       db.Executor // the audit log's database (EnableAudit)
	casts    Broadcasts
	segDB    *sqlx.DB     // the segments' database (EnableSegments)
	hooks    *hooks.Store // outgoing webhooks (EnableWebhooks)
	clock    clock.Clock
	about    fmt.Stringer // the clock, when it describes itself
	routes   []route      // of the enabled features, mounted by Register
}

// New returns the web UI; secure marks cookies Secure (https installs).
func New(st *users.Store, log *slog.Logger, secure bool) (*Web, error) {
	w := &Web{users: st, log: log, secure: secure, pages: map[string]*template.Template{}, clock: clock.Real{}}
	if err := w.parsePages("login", "home", "forbidden"); err != nil {
		return nil, err
	}
	return w, nil
}

// UseClock sets the engine clock the pages count time in ("this week"). A
// clock that describes itself (fmt.Stringer: the demo's scaled clock) is
// named in a banner on every page, so nobody reads simulated times as real.
func (w *Web) UseClock(c clock.Clock) {
	w.clock = c
	w.about, _ = c.(fmt.Stringer)
}

// parsePages registers the embedded pages templates/<name>.html.
func (w *Web) parsePages(names ...string) error {
	for _, name := range names {
		if err := w.Parse(name, templateFS, "templates/"+name+".html"); err != nil {
			return err
		}
	}
	return nil
}

// route is a feature's pattern with the action a role must be allowed.
type route struct {
	pattern string
	action  users.Action
	h       http.HandlerFunc
}

// enable adds a feature: its embedded pages, its entry in the navigation
// (none for a zero NavItem: the erase page is reached from a conversation)
// and its routes, which Register mounts. keep, run once the pages parsed,
// stores what the feature's handlers work on.
func (w *Web) enable(keep func(), nav NavItem, pages []string, routes ...route) error {
	if err := w.parsePages(pages...); err != nil {
		return err
	}
	if nav != (NavItem{}) {
		w.AddNav(nav)
	}
	keep()
	w.routes = append(w.routes, routes...)
	return nil
}

// Funcs are available in every page template.
var Funcs = template.FuncMap{
	"ago": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	// notSent says why the policy gate skipped a message, in words.
	"notSent": func(reason string) string {
		if e := policy.Explain(reason); e != "" {
			return e
		}
		return reason
	},
}

// Parse registers page name from the files (plus the shared layout).
func (w *Web) Parse(name string, fsys fs.FS, files ...string) error {
	t, err := template.New(name).Funcs(Funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	if t, err = t.ParseFS(fsys, files...); err != nil {
		return err
	}
	w.pages[name] = t
	return nil
}

// AddNav adds a section link visible to role.
func (w *Web) AddNav(n NavItem) { w.nav = append(w.nav, n) }

// Render writes page name.
func (w *Web) Render(rw http.ResponseWriter, r *http.Request, name, title string, data any) {
	t, ok := w.pages[name]
	if !ok {
		http.Error(rw, "no such page", http.StatusInternalServerError)
		return
	}
	p := Page{Title: title, Lang: "en", Data: data, Now: w.clock.Now()}
	if w.about != nil {
		p.Clock = w.about.String()
	}
	if s, ok := users.FromContext(r.Context()); ok {
		p.Session = &s
		for _, n := range w.nav {
			if s.User.Role.Can(n.Action) {
				p.Nav = append(p.Nav, n)
			}
		}
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("X-Frame-Options", "DENY")
	rw.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	if err := t.ExecuteTemplate(rw, "layout", p); err != nil {
		w.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

// unavailable logs err under msg, with attrs, and answers 500: what the
// page needs could not be read or changed, and only a retry can help.
func (w *Web) unavailable(rw http.ResponseWriter, r *http.Request, msg string, err error, attrs ...any) {
	w.log.ErrorContext(r.Context(), msg, append(attrs, "err", err)...)
	http.Error(rw, "unavailable", http.StatusInternalServerError)
}

// forbidden is the page for a signed-in user whose role may not.
func (w *Web) forbidden(rw http.ResponseWriter, r *http.Request) {
	w.Render(rw, r, "forbidden", "Forbidden", nil)
}

// person refuses API keys on pages that act as the signed-in person (the
// inbox claims, replies and notes in their name).
func (w *Web) person(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if _, ok := users.FromContext(r.Context()); !ok {
			http.Error(rw, "the inbox is for signed-in people, not API keys", http.StatusForbidden)
			return
		}
		h(rw, r)
	}
}

// Wrap resolves sessions for every request; serve wraps the whole mux with it.
func (w *Web) Wrap(h http.Handler) http.Handler { return w.users.Middleware(h) }

// Register adds the login, logout, start page and static routes, and the
// routes of every enabled feature.
func (w *Web) Register(mux *server.Mux) {
	mux.Forbidden = http.HandlerFunc(w.forbidden)
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", users.Public, http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", users.Public, w.loginForm)
	mux.HandleFunc("POST /login", users.Public, w.login)
	mux.HandleFunc("POST /logout", users.SignedIn, w.logout)
	mux.HandleFunc("GET /{$}", users.SignedIn, func(rw http.ResponseWriter, r *http.Request) {
		w.Render(rw, r, "home", "Start", nil)
	})
	for _, rt := range w.routes {
		mux.HandleFunc(rt.pattern, rt.action, rt.h)
	}
}

const loginCSRFCookie = "nudge_login_csrf"

type loginData struct{ CSRF, Next, Email, Error string }

func (w *Web) loginForm(rw http.ResponseWriter, r *http.Request) {
	// Login CSRF: a double-submit token, since there is no session yet.
	tok := users.RandomPassword()
	http.SetCookie(rw, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true,
		Secure: w.secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.Render(rw, r, "login", "Sign in", loginData{CSRF: tok, Next: safeNext(r.URL.Query().Get("next"))})
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !users.ValidCSRF(r, c.Value) {
		http.Error(rw, "missing or wrong CSRF token: reload the sign-in page", http.StatusForbidden)
		return
	}
	email, next := r.PostFormValue("email"), safeNext(r.PostFormValue("next"))
	tok, sess, err := w.users.Login(r.Context(), email, r.PostFormValue("password"), httpx.ClientIP(r))
	if err != nil {
		msg, status := "Wrong email or password.", http.StatusUnauthorized
		switch {
		case errors.Is(err, users.ErrThrottled):
			msg, status = "Too many failed attempts. Try again in 15 minutes.", http.StatusTooManyRequests
		case !errors.Is(err, users.ErrBadLogin):
			w.log.ErrorContext(r.Context(), "login failed", "err", err)
			msg, status = "Sign-in is unavailable right now.", http.StatusInternalServerError
		}
		rw.WriteHeader(status)
		w.Render(rw, r, "login", "Sign in", loginData{CSRF: c.Value, Next: next, Email: email, Error: msg})
		return
	}
	u := sess.User
	actx := users.WithActor(r.Context(), users.Actor{Kind: "user", ID: u.ID, Name: u.Email, Role: u.Role, From: httpx.ClientIP(r)})
	if err := w.record(actx, audit.Event{Action: "user.sign_in", Subject: "user:" + u.Email}); err != nil {
		w.log.ErrorContext(r.Context(), "audit sign-in", "err", err) // the sign-in stands: the password was right
	}
	users.SetCookie(rw, tok, sess.ExpiresAt, w.secure)
	w.log.InfoContext(r.Context(), "user signed in", "user_id", sess.User.ID)
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(users.CookieName); err == nil {
		_ = w.users.Logout(r.Context(), c.Value)
	}
	if err := w.record(r.Context(), audit.Event{Action: "user.sign_out", Subject: audit.By(r.Context())}); err != nil {
		w.log.ErrorContext(r.Context(), "audit sign-out", "err", err)
	}
	users.ClearCookie(rw, w.secure)
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

// record appends e to the audit log, when the log is enabled.
func (w *Web) record(ctx context.Context, e audit.Event) error {
	if w.db == nil {
		return nil
	}
	return audit.Record(ctx, w.db, w.clock.Now(), e)
}

// safeNext allows only local paths, so the login form is no open redirect.
func safeNext(n string) string {
	if n == "" || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") {
		return "/"
	}
	return n
}
