package consent

import (
	"net/http"
	"slices"
	"time"

	"github.com/nudge-engine/nudge/internal/httpx"
)

// maxWidgetForm bounds the widget's form body.
const maxWidgetForm = 8 << 10

func (rt *Routes) widgetJS(w http.ResponseWriter, r *http.Request) {
	b, err := webFS.ReadFile("web/widget.js")
	if err != nil {
		httpx.WriteError(w, r, rt.log, err)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(b)
}

// widgetTopics reads the requested topics, falling back to the configured default.
func (rt *Routes) widgetTopics(v string) ([]Topic, error) {
	if v == "" {
		return rt.cfg.WidgetTopics, nil
	}
	return ParseTopics(v)
}

// mintWidgetCode creates an anonymous code with the request's attribution.
func (rt *Routes) mintWidgetCode(r *http.Request, topics []Topic, attr Attribution) (*Code, []Link, error) {
	c, err := rt.codes.Create(r.Context(), rt.db, NewCode{
		Topics: topics, Source: SourceWidget, Attribution: attr, TextVersion: rt.cfg.TextVersion, TTL: rt.cfg.WidgetCodeTTL,
	})
	if err != nil {
		return nil, nil, err
	}
	links, err := rt.cfg.Links(c.Code)
	return c, links, err
}

// widgetPage is GET /widget: a page of channel buttons carrying a fresh
// anonymous code with the page's utm_*, ref and landing for attribution.
func (rt *Routes) widgetPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t := pickLang(r, q.Get("lang"))
	topics, err := rt.widgetTopics(q.Get("topics"))
	if err != nil {
		rt.errorPage(w, r, t, http.StatusBadRequest, err.Error())
		return
	}
	if !rt.limiter.allow(clientIP(r, rt.cfg.TrustForwarded)) {
		rt.errorPage(w, r, t, http.StatusTooManyRequests, t.RateLimited)
		return
	}
	attr := AttributionFrom(q.Get)
	if len(rt.cfg.Enabled()) == 0 { // no buttons to show: mint nothing
		rt.render(w, r, http.StatusOK, "widget", pageData{T: t, Attr: attr})
		return
	}
	_, links, err := rt.mintWidgetCode(r, topics, attr)
	if err != nil {
		rt.log.ErrorContext(r.Context(), "widget code", "err", err)
		rt.errorPage(w, r, t, http.StatusInternalServerError, t.Internal)
		return
	}
	rt.render(w, r, http.StatusOK, "widget", pageData{
		T: t, Links: toPageLinks(links), Attr: attr, Marketing: slices.Contains(topics, TopicMarketing),
	})
}

type widgetLink struct {
	Channel string `json:"channel"`
	Text    string `json:"text"`
	URL     string `json:"url"`
}

type widgetCodeResponse struct {
	Code      string       `json:"code"`
	ExpiresAt time.Time    `json:"expires_at"`
	Title     string       `json:"title"`
	Consent   string       `json:"consent"`
	Links     []widgetLink `json:"links"`
}

func corsHeaders(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "86400")
}

func (rt *Routes) widgetPreflight(w http.ResponseWriter, r *http.Request) {
	corsHeaders(w)
	w.WriteHeader(http.StatusNoContent)
}

// widgetCode is POST /widget/code (form-encoded, so browsers send it without
// a CORS preflight): mints an anonymous code for widget.js.
func (rt *Routes) widgetCode(w http.ResponseWriter, r *http.Request) {
	corsHeaders(w)
	r.Body = http.MaxBytesReader(w, r.Body, maxWidgetForm)
	if err := r.ParseForm(); err != nil {
		httpx.WriteError(w, r, rt.log, httpx.Errorf(httpx.CodeInvalid, "", "form body is malformed or larger than %d bytes", maxWidgetForm))
		return
	}
	topics, err := rt.widgetTopics(r.PostForm.Get("topics"))
	if err != nil {
		httpx.WriteError(w, r, rt.log, httpx.Errorf(httpx.CodeInvalid, "topics", "%v", err))
		return
	}
	if !rt.limiter.allow(clientIP(r, rt.cfg.TrustForwarded)) {
		w.Header().Set("Retry-After", "60")
		httpx.WriteError(w, r, rt.log, httpx.Errorf(httpx.CodeRateLimited, "", "too many codes from this address; try again in a minute"))
		return
	}
	t := pickLang(r, r.PostForm.Get("lang"))
	if len(rt.cfg.Enabled()) == 0 {
		httpx.WriteError(w, r, rt.log, httpx.Errorf(httpx.CodeNotFound, "", "no messenger is configured for opt-in"))
		return
	}
	c, links, err := rt.mintWidgetCode(r, topics, AttributionFrom(r.PostForm.Get))
	if err != nil {
		httpx.WriteError(w, r, rt.log, err)
		return
	}
	res := widgetCodeResponse{Code: c.Code, ExpiresAt: c.ExpiresAt, Title: t.Title, Links: []widgetLink{}}
	res.Consent = t.Consent
	if slices.Contains(topics, TopicMarketing) {
		res.Consent += t.Marketing
	}
	res.Consent += ". " + t.OptOut
	for _, l := range links {
		res.Links = append(res.Links, widgetLink{Channel: string(l.Channel), Text: t.ButtonPre + " " + l.Label, URL: l.URL})
	}
	httpx.WriteJSON(w, http.StatusCreated, res)
}
