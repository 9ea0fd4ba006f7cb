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
		r := httptest.NewRequest(http.MethodGet, "/v1/inbox/stats", nil)
		r = r.WithContext(users.WithActor(r.Context(), users.Actor{Kind: "user", ID: 1, Role: users.Manager}))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
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
