package users

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nudge-engine/nudge/internal/testenv"
)

func newStore(t *testing.T) (*Store, *time.Time) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	s := NewStore(testenv.DB(t), func() time.Time { return now })
	s.cost = bcrypt.MinCost
	return s, &now
}

func TestAddAndLogin(t *testing.T) {
	t.Parallel()
	s, now := newStore(t)
	ctx := context.Background()
	if _, err := s.Add(ctx, "Anna@Shop.example", Manager, "correct horse battery", []string{"care"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "anna@shop.example", Admin, "another long password", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate email: %v", err)
	}
	for _, tc := range []struct {
		email, role, pw string
		want            error
	}{
		{"not an email", "manager", "long enough pw", ErrInvalidEmail},
		{"a@b.example", "root", "long enough pw", ErrInvalidRole},
		{"a@b.example", "manager", "short", ErrWeakPassword},
	} {
		if _, err := s.Add(ctx, tc.email, Role(tc.role), tc.pw, nil); !errors.Is(err, tc.want) {
			t.Errorf("Add(%q, %q): %v, want %v", tc.email, tc.role, err, tc.want)
		}
	}
	tok, sess, err := s.Login(ctx, "ANNA@shop.example", "correct horse battery", "10.0.0.1")
	if err != nil || sess.User.Role != Manager || sess.CSRF == "" {
		t.Fatalf("login: %v %+v", err, sess)
	}
	got, err := s.Session(ctx, tok)
	if err != nil || got.User.Email != "anna@shop.example" || len(got.User.Queues) != 1 || got.User.Queues[0] != "care" {
		t.Fatalf("session: %v %+v", err, got)
	}
	// A new role and queues take effect on the live session.
	marketer := Marketer
	if _, err := s.SetAccess(ctx, "anna@shop.example", &marketer, nil); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Session(ctx, tok); err != nil || got.User.Role != Marketer || len(got.User.Queues) != 1 {
		t.Fatalf("after SetAccess: %v %+v", err, got.User)
	}
	if _, err := s.SetAccess(ctx, "anna@shop.example", nil, []string{}); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Session(ctx, tok); len(got.User.Queues) != 0 || got.User.Role != Marketer {
		t.Fatalf("queues not cleared: %+v", got.User)
	}
	root := Role("root")
	if _, err := s.SetAccess(ctx, "anna@shop.example", &root, nil); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("invalid role: %v", err)
	}
	if _, err := s.SetAccess(ctx, "nobody@shop.example", &marketer, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	*now = now.Add(13 * time.Hour)
	if _, err := s.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("expired session still valid: %v", err)
	}
}

func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	s, now := newStore(t)
	ctx := context.Background()
	if _, err := s.Add(ctx, "m@shop.example", Manager, "the right password", nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, _, err := s.Login(ctx, "m@shop.example", "wrong", "1.2.3.4"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Even the right password is refused while throttled, from any address.
	if _, _, err := s.Login(ctx, "m@shop.example", "the right password", "5.6.7.8"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("want throttled, got %v", err)
	}
	*now = now.Add(16 * time.Minute)
	if _, _, err := s.Login(ctx, "m@shop.example", "the right password", "5.6.7.8"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Unknown emails fail the same way.
	if _, _, err := s.Login(ctx, "nobody@shop.example", "x", "9.9.9.9"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("unknown email: %v", err)
	}
}

func TestRequireRoleAndCSRF(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	s.Add(ctx, "m@shop.example", Manager, "manager password", nil)
	s.Add(ctx, "a@shop.example", Admin, "admin password!", nil)
	mtok, msess, _ := s.Login(ctx, "m@shop.example", "manager password", "c")
	atok, asess, _ := s.Login(ctx, "a@shop.example", "admin password!", "c")
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	deny := func(w http.ResponseWriter, r *http.Request, status int, msg string) { http.Error(w, msg, status) }
	mux := http.NewServeMux()
	mux.Handle("/admin", Require(Settings, deny, ok))
	mux.Handle("/inbox", Require(InboxWork, deny, ok))
	mux.Handle("/open", Require(Public, deny, ok))
	h := s.Middleware(mux)
	do := func(method, path, tok, csrf string) *httptest.ResponseRecorder {
		var body *strings.Reader
		if csrf != "" {
			body = strings.NewReader(url.Values{"csrf": {csrf}}.Encode())
		} else {
			body = strings.NewReader("")
		}
		r := httptest.NewRequest(method, path, body)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tok != "" {
			r.AddCookie(&http.Cookie{Name: CookieName, Value: tok})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		name, method, path, tok, csrf string
		want                          int
	}{
		{"anonymous GET refused", "GET", "/inbox", "", "", http.StatusUnauthorized},
		{"anonymous opens a public route", "GET", "/open", "", "", http.StatusOK},
		{"anonymous POST refused", "POST", "/inbox", "", "", http.StatusUnauthorized},
		{"manager reads inbox", "GET", "/inbox", mtok, "", http.StatusOK},
		{"manager cannot open admin", "GET", "/admin", mtok, "", http.StatusForbidden},
		{"admin opens admin", "GET", "/admin", atok, "", http.StatusOK},
		{"admin opens inbox", "GET", "/inbox", atok, "", http.StatusOK},
		{"POST without CSRF refused", "POST", "/inbox", mtok, "", http.StatusForbidden},
		{"POST with another session's CSRF refused", "POST", "/inbox", mtok, asess.CSRF, http.StatusForbidden},
		{"POST with CSRF accepted", "POST", "/inbox", mtok, msess.CSRF, http.StatusOK},
		{"forged cookie", "GET", "/inbox", "forged", "", http.StatusUnauthorized},
	} {
		if got := do(tc.method, tc.path, tc.tok, tc.csrf).Code; got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
}
