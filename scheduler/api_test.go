package scheduler

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users/userstest"
)

type apiCall struct {
	campaign, key, body string
}

func (c apiCall) do(t *testing.T, h http.Handler) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/campaigns/"+c.campaign+"/trigger", strings.NewReader(c.body))
	r.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		r.Header.Set(IdempotencyHeader, c.key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w, m
}

// want makes the call and fails t, with what, unless it answers code.
func (c apiCall) want(t *testing.T, h http.Handler, code int, what string) {
	t.Helper()
	if w, _ := c.do(t, h); w.Code != code {
		t.Fatalf("%s: %d %s", what, w.Code, w.Body)
	}
}

func apiSetup(t *testing.T) (fixture, http.Handler, *clock.Manual) {
	f := setup(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f.campaign(campaigns.Definition{ID: "receipt", Topic: campaigns.TopicService,
		Trigger: campaigns.Trigger{API: &campaigns.APITrigger{}}}, now.Add(-time.Hour))
	f.campaign(weekly("weekly", "UTC"), now.Add(-time.Hour))
	id := f.subscriber(sub{ext: "cust-1"})
	f.consent(id, "telegram", "service", true)
	f.subscriber(sub{ext: "no-consent"})
	f.subscriber(sub{ext: "erased", erased: true})
	clk := clock.NewManual(now)
	mux := server.NewMux()
	NewAPI(f.db, APIConfig{Now: clk.Now, Log: testLog(t)}).Register(mux)
	return f, userstest.AsAdmin(mux), clk
}

func TestTriggerAPI(t *testing.T) {
	t.Parallel()
	f, h, clk := apiSetup(t)
	body := `{"subscriber": "cust-1", "payload": {"order_id": "A-17", "total": 1290.5}}`
	w, m := apiCall{"receipt", "k-1", body}.do(t, h)
	if w.Code != http.StatusCreated || m["created"] != true || m["trigger_key"] != "api:k-1" || m["state"] != "active" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	runs := f.runs("receipt")
	if len(runs) != 1 || !runs[0].NextAt.Equal(clk.Now()) || runs[0].Step != "hello" {
		t.Fatalf("runs %+v", runs)
	}
	var c struct {
		Trigger string         `json:"trigger"`
		Payload map[string]any `json:"payload"`
	}
	_ = json.Unmarshal([]byte(runs[0].Context), &c)
	if c.Trigger != "api" || c.Payload["order_id"] != "A-17" || c.Payload["total"] != 1290.5 {
		t.Fatalf("context %s", runs[0].Context)
	}
	first := w.Body.String()

	// Same key, same request (other whitespace and key order): the original answer.
	w, _ = apiCall{"receipt", "k-1", `{"payload":{"total":1290.5,"order_id":"A-17"},"subscriber":"cust-1"}`}.do(t, h)
	if w.Code != http.StatusCreated || w.Body.String() != first || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	// Same key, other body: 422 naming the header.
	w, m = apiCall{"receipt", "k-1", `{"subscriber": "cust-1", "payload": {"order_id": "A-18"}}`}.do(t, h)
	e, _ := m["error"].(map[string]any)
	if w.Code != http.StatusUnprocessableEntity || e["field"] != IdempotencyHeader || e["code"] != string(CodeIdempotencyMismatch) {
		t.Fatalf("mismatch: %d %s", w.Code, w.Body)
	}
	// Same key on another campaign is another request too.
	apiCall{"weekly", "k-1", body}.want(t, h, http.StatusUnprocessableEntity, "other campaign")
	if n := len(f.runs("receipt")); n != 1 {
		t.Fatalf("%d runs after replays", n)
	}
	// After 24h the key is forgotten; the run's trigger key still dedupes.
	clk.Set(clk.Now().Add(25 * time.Hour))
	w, m = apiCall{"receipt", "k-1", `{"subscriber": "cust-1", "payload": {"order_id": "A-18"}}`}.do(t, h)
	if w.Code != http.StatusOK || m["created"] != false {
		t.Fatalf("after expiry: %d %s", w.Code, w.Body)
	}
	// Without a key every call is a new run.
	for i := 0; i < 2; i++ {
		apiCall{"receipt", "", body}.want(t, h, http.StatusCreated, "no key")
	}
	if n := len(f.runs("receipt")); n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}
}

func TestTriggerAPIErrors(t *testing.T) {
	t.Parallel()
	f, h, _ := apiSetup(t)
	tests := []struct {
		name  string
		call  apiCall
		code  int
		field string
	}{
		{"unknown campaign", apiCall{"nope", "", `{"subscriber":"cust-1"}`}, 404, "id"},
		{"not api-triggered", apiCall{"weekly", "", `{"subscriber":"cust-1"}`}, 409, "id"},
		{"unknown subscriber", apiCall{"receipt", "", `{"subscriber":"ghost"}`}, 404, "subscriber"},
		{"erased subscriber", apiCall{"receipt", "", `{"subscriber":"erased"}`}, 404, "subscriber"},
		{"no consent", apiCall{"receipt", "", `{"subscriber":"no-consent"}`}, 409, "subscriber"},
		{"missing subscriber", apiCall{"receipt", "", `{"payload":{}}`}, 400, "subscriber"},
		{"subscriber not a string", apiCall{"receipt", "", `{"subscriber":42}`}, 400, "subscriber"},
		{"payload not an object", apiCall{"receipt", "", `{"subscriber":"cust-1","payload":[1]}`}, 400, "payload"},
		{"unknown field", apiCall{"receipt", "", `{"subscriber":"cust-1","channel":"sms"}`}, 400, "channel"},
		{"bad key", apiCall{"receipt", "has space", `{"subscriber":"cust-1"}`}, 400, IdempotencyHeader},
		{"long key", apiCall{"receipt", strings.Repeat("k", 256), `{"subscriber":"cust-1"}`}, 400, IdempotencyHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, m := tc.call.do(t, h)
			e, _ := m["error"].(map[string]any)
			if w.Code != tc.code || e == nil || e["field"] != tc.field {
				t.Fatalf("%d %s, want %d field %s", w.Code, w.Body, tc.code, tc.field)
			}
		})
	}
	// A failed call stores nothing: the same key works once the problem is fixed.
	apiCall{"receipt", "retry-me", `{"subscriber":"no-consent"}`}.want(t, h, http.StatusConflict, "no consent")
	var id int64
	_ = f.db.Get(&id, `SELECT id FROM subscribers WHERE external_id = 'no-consent'`)
	f.consent(id, "*", "service", true)
	apiCall{"receipt", "retry-me", `{"subscriber":"no-consent"}`}.want(t, h, http.StatusCreated, "retry after fix")
	if n := len(f.runs("receipt")); n != 1 {
		t.Fatalf("%d runs", n)
	}
}

// Concurrent calls with one key create one run and all get the same answer.
func TestTriggerAPIConcurrentSameKey(t *testing.T) {
	t.Parallel()
	f, h, _ := apiSetup(t)
	var wg sync.WaitGroup
	bodies := make([]string, 10)
	codes := make([]int, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _ := apiCall{"receipt", "same", `{"subscriber":"cust-1","payload":{"n":1}}`}.do(t, h)
			bodies[i], codes[i] = w.Body.String(), w.Code
		}()
	}
	wg.Wait()
	for i := range bodies {
		if codes[i] != 201 || bodies[i] != bodies[0] {
			t.Fatalf("call %d: %d %s vs %s", i, codes[i], bodies[i], bodies[0])
		}
	}
	if n := len(f.runs("receipt")); n != 1 {
		t.Fatalf("%d runs", n)
	}
}

func TestTriggerAPIAuth(t *testing.T) {
	t.Parallel()
	f := setup(t)
	mux := server.NewMux()
	NewAPI(f.db, APIConfig{}).Register(mux)
	if w, _ := (apiCall{"x", "", `{}`}).do(t, mux); w.Code != 401 {
		t.Fatalf("no actor: %d, want 401", w.Code)
	}
}
