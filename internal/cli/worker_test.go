package cli

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// asynqmon is mounted behind the guard it is given (serve passes the UI's
// admin-only check).
func TestAdminQueuesBehindGuard(t *testing.T) {
	ropt, err := asynq.ParseRedisURI(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	guard := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Admin") != "yes" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	newAdminQueues(ropt, guard).Register(mux)
	for _, c := range []struct {
		admin bool
		want  int
	}{{false, http.StatusForbidden}, {true, http.StatusOK}} {
		req := httptest.NewRequest("GET", "/admin/queues/", nil)
		if c.admin {
			req.Header.Set("X-Admin", "yes")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("admin=%v: status %d, want %d", c.admin, rec.Code, c.want)
		}
	}
}
