package meta_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

func TestVerify(t *testing.T) {
	body := []byte(`{"object":"page"}`)
	good := meta.Sign("secret", body)
	for _, tc := range []struct {
		name, secret, header string
		ok                   bool
	}{
		{"good", "secret", good, true},
		{"other secret", "other", good, false},
		{"empty secret never verifies", "", meta.Sign("", body), false},
		{"no prefix", "secret", good[len("sha256="):], false},
		{"truncated", "secret", good[:20], false},
		{"empty", "secret", "", false},
	} {
		if got := meta.Verify(tc.secret, body, tc.header); got != tc.ok {
			t.Errorf("%s: Verify = %v", tc.name, got)
		}
	}
	if meta.Verify("secret", []byte(`{"object":"page" }`), good) {
		t.Error("changed body verified")
	}
}

func TestParseError(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		code, sub   int
		msgNonEmpty bool
	}{
		{"graph", 400, `{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"A1"}}`, 10, 2018278, true},
		{"html", 502, `<html>Bad Gateway</html>`, 0, 0, true},
		{"empty", 503, ``, 0, 0, true},
	} {
		e := meta.ParseError(tc.status, []byte(tc.body))
		if e.Code != tc.code || e.Subcode != tc.sub || e.Status != tc.status || (tc.msgNonEmpty && e.Message == "") {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
}

func TestPost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"ok"}`))
	}))
	defer srv.Close()
	var out struct{ ID string }
	if err := (&meta.Graph{BaseURL: srv.URL, Token: "tok"}).Post(context.Background(), "/x", map[string]int{"a": 1}, &out); err != nil || out.ID != "ok" {
		t.Fatalf("%v %+v", err, out)
	}
	err := (&meta.Graph{BaseURL: srv.URL, Token: "bad"}).Post(context.Background(), "/x", nil, nil)
	var ge *meta.GraphError
	if !errors.As(err, &ge) || ge.Code != 190 || ge.Status != 401 {
		t.Fatalf("%v", err)
	}
	// A Graph error object inside an HTTP 200 is a refusal.
	in200 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"IGApiException","code":613}}`))
	}))
	defer in200.Close()
	err = (&meta.Graph{BaseURL: in200.URL, Token: "tok"}).Post(context.Background(), "/x", nil, &out)
	if !errors.As(err, &ge) || ge.Code != 613 || ge.Status != 200 {
		t.Fatalf("error in 200: %v", err)
	}
	err = (&meta.Graph{BaseURL: "http://127.0.0.1:1", Token: "tok"}).Post(context.Background(), "/x", nil, nil)
	if !errors.Is(err, meta.ErrTransport) {
		t.Fatalf("dial failure not ErrTransport: %v", err)
	}
}

func FuzzParseError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"x"},"fbtrace_id":"A"}}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := meta.ParseError(status, body)
		if e == nil || e.Status != status {
			t.Fatalf("%+v", e)
		}
	})
}

func TestClassifyStatusWithoutGraphError(t *testing.T) {
	want := map[int]channels.Error{
		http.StatusTooManyRequests: {Kind: channels.RateLimited, Code: "429", Message: "x", RetryAfter: time.Minute},
		http.StatusBadGateway:      {Kind: channels.Transient, Code: "502", Message: "x"},
		0:                          {Kind: channels.Transient, Code: "0", Message: "x"}, // no answer at all
		http.StatusNotFound:        {Kind: channels.Invalid, Code: "404", Message: "x"},
	}
	for status, w := range want {
		e := channels.Error{Code: "0", Message: "x"}
		meta.ClassifyStatus(&e, status, time.Minute)
		if e != w {
			t.Errorf("status %d: %+v, want %+v", status, e, w)
		}
	}
}
