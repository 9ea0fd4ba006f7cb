package cli

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestAdminQueuesNeedsPassword(t *testing.T) {
	ropt, err := asynq.ParseRedisURI(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	newAdminQueues(ropt, "s3cret").Register(mux)
	for _, c := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"admin", "wrong", http.StatusUnauthorized},
		{"admin", "s3cret", http.StatusOK},
	} {
		req := httptest.NewRequest("GET", "/admin/queues/", nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s/%s: status %d, want %d", c.user, c.pass, rec.Code, c.want)
		}
	}
	// Without a password the UI is not mounted at all.
	mux = http.NewServeMux()
	newAdminQueues(ropt, "").Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/queues/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unmounted UI answered %d", rec.Code)
	}
}
