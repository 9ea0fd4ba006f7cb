package consent_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestWidgetPageEscapesHostileAttribution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hostile := `"><script>alert(1)</script>`
	q := url.Values{
		"utm_source":   {hostile},
		"utm_campaign": {`x" onmouseover="alert(2)`},
		"ref":          {"</main><img src=x onerror=alert(3)>"},
		"landing":      {"javascript:alert(4)"},
		"lang":         {"ru"},
	}
	res, body := h.get(t, "/widget?"+q.Encode())
	if res.StatusCode != 200 {
		t.Fatalf("status %d\n%s", res.StatusCode, body)
	}
	for _, bad := range []string{"<script>alert", `onmouseover="alert`, "<img src=x", "javascript:alert", "Вернуться на сайт"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("utm_source not present escaped:\n%s", body)
	}
	if _, body := h.get(t, "/widget?landing="+url.QueryEscape("https://shop.example/done?a=1&b=<2>")); !strings.Contains(body, `href="https://shop.example/done?a=1&amp;b=%3c2%3e"`) {
		t.Errorf("back link missing or unescaped:\n%s", body)
	}
	if !strings.Contains(body, "Получать в Telegram") {
		t.Errorf("Russian buttons missing:\n%s", body)
	}
	// The raw values are stored as given (parameterised SQL), for attribution.
	var attr []byte
	if err := h.db.Get(&attr, `SELECT attribution FROM consent_codes WHERE source = 'widget'`); err != nil {
		t.Fatal(err)
	}
	var a consent.Attribution
	if err := json.Unmarshal(attr, &a); err != nil || a.UTMSource != hostile || a.Landing != "javascript:alert(4)" {
		t.Errorf("stored attribution %+v (%v)", a, err)
	}
}

func TestWidgetLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := []struct {
		query, accept, want string
	}{
		{"", "", "Получать в Telegram"},
		{"", "en-US,en;q=0.9", "Get updates in Telegram"},
		{"", "de-DE,ru;q=0.3,en;q=0.8", "Get updates in Telegram"},
		{"", "en;q=0.2,ru", "Получать в Telegram"},
		{"?lang=en", "ru", "Get updates in Telegram"},
		{"?lang=xx", "en", "Get updates in Telegram"},
	}
	for _, c := range cases {
		_, body := h.do(t, "GET", "/widget"+c.query, nil, map[string]string{"Accept-Language": c.accept})
		if !strings.Contains(body, c.want) {
			t.Errorf("query %q accept %q: page lacks %q", c.query, c.accept, c.want)
		}
	}
}

func TestWidgetCodeEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	form := url.Values{"utm_source": {"site"}, "utm_medium": {"widget"}, "ref": {"footer"}, "landing": {"https://shop.example/checkout/done"},
		"topics": {"service,marketing"}, "lang": {"en"}}
	res, body := h.postForm(t, "/widget/code", form, nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header")
	}
	var got struct {
		Code    string `json:"code"`
		Consent string `json:"consent"`
		Links   []struct{ Channel, Text, URL string }
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if !consent.ValidCode(got.Code) || len(got.Links) != 5 || got.Links[0].Text != "Get updates in Telegram" ||
		got.Links[0].URL != "https://t.me/GrowFoodBot?start="+got.Code || !strings.Contains(got.Consent, "marketing") {
		t.Errorf("response %+v", got)
	}
	var topics, source string
	var attr []byte
	if err := h.db.QueryRow(`SELECT array_to_string(topics, ','), source, attribution FROM consent_codes WHERE code = $1`, got.Code).Scan(&topics, &source, &attr); err != nil {
		t.Fatal(err)
	}
	if topics != "service,marketing" || source != "widget" || !strings.Contains(string(attr), `"ref": "footer"`) {
		t.Errorf("stored %s %s %s", topics, source, attr)
	}

	if res, body := h.postForm(t, "/widget/code", url.Values{"topics": {"spam"}}, nil); res.StatusCode != 400 || !strings.Contains(body, `"field":"topics"`) {
		t.Errorf("bad topic: %d %s", res.StatusCode, body)
	}
	if res, _ := h.postForm(t, "/widget/code", url.Values{"utm_source": {strings.Repeat("x", 10000)}}, nil); res.StatusCode != 400 {
		t.Errorf("oversized form: %d", res.StatusCode)
	}
	if res, body := h.get(t, "/widget.js"); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		strings.Contains(body, "http://") || strings.Contains(body, "innerHTML") {
		t.Errorf("widget.js: %d %s (must make no external requests and not use innerHTML)", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestWidgetRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	limit := h.cfg.WidgetRate
	for i := 0; i < limit; i++ {
		if res, body := h.postForm(t, "/widget/code", nil, nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, body)
		}
	}
	res, body := h.postForm(t, "/widget/code", nil, nil)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"code":"rate_limited"`) {
		t.Fatalf("over the limit: %d %s", res.StatusCode, body)
	}
	if res, _ := h.get(t, "/widget"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("page over the limit: %d", res.StatusCode)
	}
	var n int
	_ = h.db.Get(&n, `SELECT count(*) FROM consent_codes`)
	if n != limit {
		t.Errorf("%d codes minted, want %d", n, limit)
	}
}

func TestWidgetWithoutChannels(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	mux := server.NewMux()
	consent.NewRoutes(consent.RoutesConfig{DB: d, Config: consent.Config{}, Now: clock}).Register(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/widget?lang=en", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "No messengers are connected yet.") {
		t.Errorf("page: %d %s", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/widget/code", strings.NewReader("")))
	if w.Code != 404 {
		t.Errorf("code: %d %s", w.Code, w.Body.String())
	}
	var n int
	_ = d.Get(&n, `SELECT count(*) FROM consent_codes`)
	if n != 0 {
		t.Errorf("%d codes minted with no channel configured", n)
	}
}
