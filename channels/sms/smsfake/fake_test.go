package smsfake_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels/sms/smsfake"
)

func TestRateLimitAndAuth(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	f := smsfake.New(smsfake.Options{PerSecond: 1, RetryAfter: 3, Now: func() time.Time { return now }})
	defer f.Close()
	o := f.Options()
	send := func(user, pass string) *http.Response {
		form := url.Values{"To": {"+79160000000"}, "From": {o.From}, "Body": {"привет"}}
		req, _ := http.NewRequest(http.MethodPost, f.URL()+"/2010-04-01/Accounts/"+o.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := send(o.AccountSID, o.AuthToken); r.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d", r.StatusCode)
	}
	if r := send(o.AccountSID, o.AuthToken); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "3" {
		t.Fatalf("second: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := send(o.AccountSID, "wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad auth: %d", r.StatusCode)
	}
	if n := len(f.Sent()); n != 1 {
		t.Fatalf("%d accepted", n)
	}
}
