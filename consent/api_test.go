package consent_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/server"
)

func TestConsentAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := consent.EnsureSubscriber(ctx(), h.db, consent.Customer{ExternalID: "shop-7"}); err != nil {
		t.Fatal(err)
	}
	res, body := h.postJSON(t, "/v1/consent", map[string]any{
		"external_id": "shop-7", "action": "grant", "channel": "*", "topics": []string{"service", "marketing"},
		"text_version": "2026-03", "ip": "198.51.100.4", "user_agent": "Mozilla/5.0",
	})
	if res.StatusCode != 200 {
		t.Fatalf("grant: %d %s", res.StatusCode, body)
	}
	res, body = h.postJSON(t, "/v1/consent", map[string]any{"external_id": "shop-7", "action": "revoke", "channel": "telegram", "topics": []string{"marketing"}})
	if res.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", res.StatusCode, body)
	}
	res, body = h.get(t, "/v1/consent/shop-7")
	if res.StatusCode != 200 {
		t.Fatalf("get: %d %s", res.StatusCode, body)
	}
	var st consent.StateResponse
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Current) != 3 || len(st.History) != 3 {
		t.Fatalf("state %+v", st)
	}
	var p0, p2 consent.Proof
	_ = json.Unmarshal(st.History[0].Proof, &p0)
	_ = json.Unmarshal(st.History[2].Proof, &p2)
	if p0.IP != "198.51.100.4" || p0.UserAgent != "Mozilla/5.0" || p0.TextVersion != "2026-03" || st.History[0].Source != consent.SourceAPI {
		t.Errorf("grant proof %+v", p0)
	}
	if p2.IP != "127.0.0.1" || p2.UserAgent != "shop-backend/1.0" || st.History[2].Granted {
		t.Errorf("revoke proof from the request: %+v", p2)
	}
	ok, _ := consent.NewLedger().Current(ctx(), h.db, st.SubscriberID, "telegram", "marketing")
	okViber, _ := consent.NewLedger().Current(ctx(), h.db, st.SubscriberID, "viber", "marketing")
	if ok || !okViber {
		t.Errorf("telegram marketing %v (want false), viber marketing %v (want true)", ok, okViber)
	}
}

func TestConsentAPIValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := consent.EnsureSubscriber(ctx(), h.db, consent.Customer{ExternalID: "shop-8"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"empty body", "", 400, ""},
		{"malformed", `{"external_id":`, 400, ""},
		{"unknown field", `{"external_id":"shop-8","action":"grant","topics":["service"],"admin":true}`, 400, "admin"},
		{"no external id", map[string]any{"action": "grant", "topics": []string{"service"}}, 400, "external_id"},
		{"bad action", map[string]any{"external_id": "shop-8", "action": "maybe", "topics": []string{"service"}}, 400, "action"},
		{"bad channel", map[string]any{"external_id": "shop-8", "action": "grant", "channel": "icq", "topics": []string{"service"}}, 400, "channel"},
		{"no topics", map[string]any{"external_id": "shop-8", "action": "grant"}, 400, "topics"},
		{"bad topic", map[string]any{"external_id": "shop-8", "action": "grant", "topics": []string{"spam"}}, 400, "topics"},
		{"duplicate topic", map[string]any{"external_id": "shop-8", "action": "grant", "topics": []string{"service", "service"}}, 400, "topics"},
		{"bad ip", map[string]any{"external_id": "shop-8", "action": "grant", "topics": []string{"service"}, "ip": "localhost"}, 400, "ip"},
		{"wrong type", `{"external_id":"shop-8","action":"grant","topics":"service"}`, 400, "topics"},
		{"unknown subscriber", map[string]any{"external_id": "nobody", "action": "grant", "topics": []string{"service"}}, 404, "external_id"},
		{"too large", `{"external_id":"` + strings.Repeat("x", 20000) + `"}`, 413, ""},
	}
	for _, c := range cases {
		res, body := h.postJSON(t, "/v1/consent", c.body)
		if res.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, res.StatusCode, c.status, body)
			continue
		}
		var e struct {
			Error struct{ Code, Message, Field string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Field != c.field {
			t.Errorf("%s: error body %s", c.name, body)
		}
	}
	var n int
	_ = h.db.Get(&n, `SELECT count(*) FROM consent_events`)
	if n != 0 {
		t.Errorf("invalid requests recorded %d events", n)
	}
	if res, _ := h.get(t, "/v1/consent/nobody"); res.StatusCode != http.StatusNotFound {
		t.Errorf("get unknown: %d", res.StatusCode)
	}
}

func TestConsentAPIAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mux := server.NewMux()
	consent.NewRoutes(consent.RoutesConfig{DB: h.db, Config: h.cfg}).Register(mux)
	for _, r := range []*http.Request{
		mustReq("GET", "/v1/consent/x"), mustReq("POST", "/v1/consent"),
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401", r.Method, r.URL.Path, w.Code)
		}
	}
	// Public() leaves the API out entirely.
	pub := server.NewMux()
	consent.NewRoutes(consent.RoutesConfig{DB: h.db, Config: h.cfg}).Public().Register(pub)
	w := httptest.NewRecorder()
	pub.ServeHTTP(w, mustReq("GET", "/v1/consent/x"))
	if w.Code != http.StatusNotFound {
		t.Errorf("public routes serve the API: %d", w.Code)
	}
}

func mustReq(method, path string) *http.Request {
	r, err := http.NewRequest(method, "http://nudge.test"+path, strings.NewReader("{}"))
	if err != nil {
		panic(err)
	}
	return r
}
