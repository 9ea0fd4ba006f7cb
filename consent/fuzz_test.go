package consent_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// FuzzJWTLinkHandler feeds arbitrary path tokens and channel parameters to
// GET /s/{token}: nothing may panic or answer 5xx, a redirect always names
// its target, and every page is valid UTF-8.
func FuzzJWTLinkHandler(f *testing.F) {
	k := keys(f)
	f.Add(sign(f, jwt.SigningMethodHS256, "hs-new", k.hsNew, baseClaims("fuzz-seed")), "telegram")
	f.Add(sign(f, jwt.SigningMethodRS256, "rs1", k.rsa, baseClaims("fuzz-seed-2")), "")
	f.Add("eyJhbGciOiJub25lIiwia2lkIjoiaHMtbmV3In0.e30.", "viber")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.AAAA", "whatsapp")
	f.Add("a.b.c", "icq")
	f.Add("", "")
	d := testenv.DB(f)
	mux := server.NewMux()
	consent.NewRoutes(consent.RoutesConfig{DB: d, Config: testConfig(f), Now: clock}).Register(mux)
	f.Fuzz(func(t *testing.T, token, channel string) {
		u := "/s/" + url.PathEscape(token) + "?channel=" + url.QueryEscape(channel)
		req, err := http.NewRequest("GET", "http://nudge.test"+u, nil)
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("token %q channel %q: status %d\n%s", token, channel, w.Code, w.Body.String())
		}
		if w.Code == http.StatusFound && w.Header().Get("Location") == "" {
			t.Fatal("redirect without Location")
		}
		if !utf8.Valid(w.Body.Bytes()) {
			t.Fatal("page is not UTF-8")
		}
	})
}

// FuzzIsOptOut checks IsOptOut never panics and agrees with itself on
// surrounding punctuation and case.
func FuzzIsOptOut(f *testing.F) {
	for _, s := range []string{"STOP", "Стоп!", "отписаться", "unsubscribe", "не стоп", "", "\xff\xfe", "/stop."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := consent.IsOptOut(s)
		if got && len(s) > 64 {
			t.Fatalf("IsOptOut(%q) true for a long message", s)
		}
		if got != consent.IsOptOut(" "+s+"! ") && len(s) <= 60 {
			t.Fatalf("IsOptOut(%q) changes with surrounding punctuation", s)
		}
	})
}

// FuzzCodeCandidates checks the code finder never panics and only returns
// values that are valid codes.
func FuzzCodeCandidates(f *testing.F) {
	for _, s := range []string{"/start AbC_-09xyzAbC_-09xyzAb", "Хочу получать уведомления: AbC_-09xyzAbC_-09xyzAb", "", "/start", "/start \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs := consent.CodeCandidates(s)
		if len(cs) > 3 {
			t.Fatalf("%d candidates", len(cs))
		}
		for _, c := range cs {
			if !consent.ValidCode(c) {
				t.Fatalf("CodeCandidates(%q) returned invalid %q", s, c)
			}
		}
	})
}
