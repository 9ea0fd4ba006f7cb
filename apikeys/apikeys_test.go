package apikeys_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users"
)

func TestCreateListRevoke(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := apikeys.NewStore(d, func() time.Time { return now })
	ctx := context.Background()
	k, secret, err := s.Create(ctx, "shop-backend", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^nk_[A-Za-z0-9_-]{43}$`).MatchString(secret) || secret[:11] != k.Prefix {
		t.Fatalf("secret %q prefix %q", secret, k.Prefix)
	}
	var stored int
	d.Get(&stored, `SELECT count(*) FROM api_keys WHERE hash = convert_to($1, 'UTF8') OR prefix = $1`, secret)
	if stored != 0 {
		t.Fatal("the secret is stored in clear")
	}
	if _, _, err := s.Create(ctx, "shop-backend", users.Admin); !errors.Is(err, apikeys.ErrExists) {
		t.Fatalf("duplicate live name: %v", err)
	}
	if _, _, err := s.Create(ctx, "bad name", users.Admin); err == nil {
		t.Fatal("bad name accepted")
	}
	got, err := s.Verify(ctx, secret)
	if err != nil || got.Name != "shop-backend" {
		t.Fatalf("verify: %+v %v", got, err)
	}
	ks, err := s.List(ctx)
	if err != nil || len(ks) != 1 || ks[0].LastUsedAt == nil || !ks[0].LastUsedAt.Equal(now) {
		t.Fatalf("list: %+v %v", ks, err)
	}
	if err := s.Revoke(ctx, "shop-backend"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "shop-backend"); !errors.Is(err, apikeys.ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := s.Verify(ctx, secret); !errors.Is(err, apikeys.ErrInvalid) {
		t.Fatalf("revoked key verified: %v", err)
	}
	// The name is free again once revoked.
	if _, _, err := s.Create(ctx, "shop-backend", users.Admin); err != nil {
		t.Fatal(err)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	s := apikeys.NewStore(d, nil)
	ctx := context.Background()
	_, good, err := s.Create(ctx, "live", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, _ := s.Create(ctx, "old", users.Admin)
	_, viewer, err := s.Create(ctx, "figures", users.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	h := apikeys.Middleware(s, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := users.ActorFrom(r.Context())
		if !ok { // no key: on to the session, then users.Require
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Write([]byte(a.Ref() + " " + string(a.Role)))
	}))
	tampered := []byte(good)
	tampered[20] ^= 1
	cases := []struct {
		name, header string
		status       int
	}{
		{"valid", "Bearer " + good, 200},
		{"lower-case scheme", "bearer " + good, 200},
		{"viewer", "Bearer " + viewer, 200},
		{"missing", "", 204},
		{"basic", "Basic " + good, 401},
		{"revoked", "Bearer " + revoked, 401},
		{"tampered", "Bearer " + string(tampered), 401},
		{"prefix only", "Bearer " + good[:11], 401},
		{"garbage", "Bearer nk_\x00\xff", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/subscribers", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if c.status == 204 {
				return
			}
			if c.status == 200 {
				want := "key:live admin"
				if c.name == "viewer" {
					want = "key:figures viewer"
				}
				if w.Body.String() != want {
					t.Fatalf("body %q", w.Body)
				}
				return
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != "unauthorized" {
				t.Fatalf("body %s (%v)", w.Body, err)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate header")
			}
		})
	}
}
