package inbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/users/userstest"
)

// GET /v1/inbox/stats without ?since covers the last 30 days of flow time,
// not of the wall clock: under the demo's or a rehearsal's clock the
// figures follow the simulated month.
func TestStatsAPIDefaultWindowIsFlowTime(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	var sub int64
	e.db.QueryRow(`INSERT INTO subscribers (name) VALUES ('c') RETURNING id`).Scan(&sub)
	if _, err := Open(ctx, e.db, Handoff{SubscriberID: sub, Channel: "telegram", Reason: "unmatched", At: *e.now}); err != nil {
		t.Fatal(err)
	}
	mux := server.NewMux()
	(&API{Svc: e.svc}).Register(mux)
	conversations := func() int {
		t.Helper()
		w := managerGet(mux, "/v1/inbox/stats")
		var f Figures
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &f) != nil {
			t.Fatalf("GET /v1/inbox/stats: %d %s", w.Code, w.Body)
		}
		return f.Conversations
	}
	if n := conversations(); n != 1 {
		t.Fatalf("%d conversations in the 30 days up to flow time %s, want 1", n, e.now)
	}
	*e.now = e.now.Add(31 * 24 * time.Hour)
	if n := conversations(); n != 0 {
		t.Fatalf("%d conversations in the 30 days up to flow time %s, want 0 (the one opened 31 days before)", n, e.now)
	}
}

// The conversation list names a bad limit or view; a database error is not
// passed off as a bad view.
func TestListAPIRefusesABadLimitOrView(t *testing.T) {
	t.Parallel()
	e := setup(t)
	mux := server.NewMux()
	(&API{Svc: e.svc}).Register(mux)
	for _, c := range []struct {
		query string
		code  int
		field string
	}{
		{"", 200, ""},
		{"?limit=5&view=mine", 200, ""},
		{"?limit=ten", 400, "limit"},
		{"?limit=0", 400, "limit"},
		{"?limit=501", 400, "limit"},
		{"?view=everything", 400, "view"},
	} {
		w := managerGet(mux, "/v1/inbox/conversations"+c.query)
		var body struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != c.code || body.Error.Field != c.field {
			t.Errorf("GET /v1/inbox/conversations%s: %d %s, want %d naming %q", c.query, w.Code, w.Body, c.code, c.field)
		}
	}
	e.db.Close() // a failing store is a server error, not a bad view
	if w := managerGet(mux, "/v1/inbox/conversations?view=all"); w.Code != http.StatusInternalServerError {
		t.Errorf("list on a closed database: %d %s, want 500", w.Code, w.Body)
	}
}

// managerGet serves GET path to a signed-in manager.
func managerGet(mux *server.Mux, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	userstest.As(users.Actor{Kind: "user", ID: 1, Role: users.Manager}, mux).ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}
