package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users"
)

// newSite serves the web UI on a real listener with an admin-only test page.
func newSite(t *testing.T) (*httptest.Server, *users.Store) {
	st := users.NewStore(testenv.DB(t), nil)
	w, err := New(st, slog.New(slog.NewTextHandler(testWriter{t}, nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	w.AddNav(NavItem{Href: "/settings", Label: "Settings", About: "Admins only", Action: users.Settings})
	mux := server.NewMux()
	w.Register(mux)
	mux.HandleFunc("GET /settings", users.Settings, func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte("<h1>settings</h1>"))
	})
	srv := httptest.NewServer(w.Wrap(mux))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := st.Add(ctx, "manager@shop.example", users.Manager, "manager-password-1", nil); err != nil {
		t.Fatal(err)
	}
	return srv, st
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestBrowserLoginAndRoles(t *testing.T) {
	srv, _ := newSite(t)
	ctx := browsertest.New(t)
	var heading, body, status string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(srv.URL+"/settings"),
		chromedp.WaitVisible(`#email`, chromedp.ByID), // redirected to the login page
		chromedp.SendKeys(`#email`, "manager@shop.example", chromedp.ByID),
		chromedp.SendKeys(`#password`, "wrong password", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`.error`, chromedp.ByQuery),
		chromedp.Text(`.error`, &status, chromedp.ByQuery),
	)
	if !strings.Contains(status, "Wrong email or password") {
		t.Fatalf("bad login message: %q", status)
	}
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.SetValue(`#password`, "manager-password-1", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		// next=/settings is admin-only: a manager lands on the forbidden page.
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Text(`h1`, &heading, chromedp.ByQuery),
		chromedp.Text(`header.top .who`, &body, chromedp.ByQuery),
	)
	if heading != "Not for your role" || !strings.Contains(body, "manager@shop.example") {
		t.Fatalf("manager reached %q (%q)", heading, body)
	}
	// A POST without the CSRF token, from the signed-in page, is refused.
	var code int
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Evaluate(`fetch('/logout', {method: 'POST'}).then(r => r.status)`, &code,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if code != http.StatusForbidden {
		t.Fatalf("CSRF-less POST got %d, want 403", code)
	}
	// The logout form carries the token and works.
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(`header.top button`, chromedp.ByQuery),
		chromedp.Click(`header.top button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
	)
}

func TestLoginRejectsForeignNextAndMissingCSRF(t *testing.T) {
	srv, _ := newSite(t)
	for _, n := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", ""} {
		if got := safeNext(n); got != "/" {
			t.Errorf("safeNext(%q) = %q", n, got)
		}
	}
	// POST /login without the double-submit cookie is refused.
	resp, err := http.PostForm(srv.URL+"/login", map[string][]string{"email": {"manager@shop.example"}, "password": {"manager-password-1"}, "csrf": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without CSRF cookie: %d", resp.StatusCode)
	}
}
