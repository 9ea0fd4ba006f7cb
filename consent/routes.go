package consent

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

//go:embed web/pages.html web/widget.js
var webFS embed.FS

var pages = template.Must(template.ParseFS(webFS, "web/pages.html"))

// RoutesConfig wires the consent HTTP endpoints.
type RoutesConfig struct {
	DB     *sqlx.DB
	Config Config
	Log    *slog.Logger
	Now    func() time.Time // nil = time.Now
}

// Routes serves the opt-in pages (widget, JWT deep links) and the consent API.
type Routes struct {
	db       *sqlx.DB
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	ledger   *Ledger
	codes    *Codes
	verifier *jwtlink.Verifier
	limiter  *limiter
}

// NewRoutes builds the handlers.
func NewRoutes(rc RoutesConfig) *Routes {
	cfg := rc.Config.WithDefaults()
	now := rc.Now
	now = clock.NowOr(now)
	log := rc.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Routes{
		db: rc.DB, cfg: cfg, log: log, now: now,
		ledger:   NewLedger(),
		codes:    NewCodes(now),
		verifier: jwtlink.NewVerifier(cfg.JWTKeys, cfg.JWTAudience, cfg.JWTIssuer, cfg.JWTLeeway, now),
		limiter:  newLimiter(cfg.WidgetRate, time.Minute, now),
	}
}

// Register mounts every consent route.
func (rt *Routes) Register(mux *server.Mux) {
	rt.registerPublic(mux)
	mux.HandleFunc("POST /v1/consent", users.SubscribersWrite, rt.postConsent)
	mux.HandleFunc("GET /v1/consent/{external_id}", users.SubscribersRead, rt.getConsent)
}

// Public returns the routes a customer's browser uses (widget, deep links),
// without the /v1 API.
func (rt *Routes) Public() server.Routes { return publicRoutes{rt} }

type publicRoutes struct{ rt *Routes }

func (p publicRoutes) Register(mux *server.Mux) { p.rt.registerPublic(mux) }

func (rt *Routes) registerPublic(mux *server.Mux) {
	mux.HandleFunc("GET /widget.js", users.Public, rt.widgetJS)
	mux.HandleFunc("GET /widget", users.Public, rt.widgetPage)
	mux.HandleFunc("POST /widget/code", users.Public, rt.widgetCode)
	mux.HandleFunc("OPTIONS /widget/code", users.Public, rt.widgetPreflight)
	mux.HandleFunc("GET /s/{token}", users.Public, rt.jwtLink)
}

// pageLink is a button on a page; its URL was built by DeepLink from
// validated configuration and a validated code, so it is a trusted URL (the
// viber: scheme would otherwise be filtered by html/template).
type pageLink struct {
	Channel string
	Label   string
	URL     template.URL
}

func toPageLinks(ls []Link) []pageLink {
	out := make([]pageLink, 0, len(ls))
	for _, l := range ls {
		out = append(out, pageLink{Channel: string(l.Channel), Label: l.Label, URL: template.URL(l.URL)})
	}
	return out
}

type pageData struct {
	T         *texts
	Links     []pageLink
	Attr      Attribution
	Marketing bool
	Message   string
}

// BackURL is the landing page as a "back to the site" link, only when it is
// an http(s) URL (html/template would neutralise others anyway).
func (d pageData) BackURL() string {
	u, err := url.Parse(d.Attr.Landing)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

func (rt *Routes) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		rt.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

func (rt *Routes) errorPage(w http.ResponseWriter, r *http.Request, t *texts, status int, msg string) {
	rt.render(w, r, status, "error", pageData{T: t, Message: msg})
}
