package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/users"
)

func TestServeWiring(t *testing.T) {
	served := serveStack(t, map[string]string{
		"NUDGE_TELEGRAM_TOKEN":          "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
		"NUDGE_TELEGRAM_WEBHOOK_SECRET": "hook-secret",
	})
	ctx := context.Background()
	st := users.NewStore(served.s.db, nil)
	st.Add(ctx, "admin@shop.example", users.Admin, "admin-password-1", nil)
	st.Add(ctx, "manager@shop.example", users.Manager, "manager-password-1", nil)
	noRedirect := func(jar http.CookieJar) *http.Client {
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	status := func(c *http.Client, method, path string, body io.Reader, hdr map[string]string) int {
		req, _ := http.NewRequest(method, served.base+path, body)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	login := func(email, pw string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := noRedirect(jar)
		resp, err := c.Get(served.base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if csrf == nil {
			t.Fatal("no csrf on the login page")
		}
		resp, err = c.PostForm(served.base+"/login", url.Values{"email": {email}, "password": {pw}, "csrf": {string(csrf[1])}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: %d", email, resp.StatusCode)
		}
		return c
	}
	anon := noRedirect(nil)
	admin, manager := login("admin@shop.example", "admin-password-1"), login("manager@shop.example", "manager-password-1")
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{"health", anon, "GET", "/healthz", nil, 200},
		{"ready", anon, "GET", "/readyz", nil, 200},
		{"metrics", anon, "GET", "/metrics", nil, 200},
		{"queues need a login", anon, "GET", "/admin/queues/", nil, http.StatusSeeOther},
		{"queues are for admins", manager, "GET", "/admin/queues/", nil, http.StatusForbidden},
		{"admin sees queues", admin, "GET", "/admin/queues/", nil, 200},
		{"admin sees the dashboard", admin, "GET", "/dashboard", nil, 200},
		{"manager sees the inbox", manager, "GET", "/inbox", nil, 200},
		{"admin sees settings", admin, "GET", "/settings", nil, 200},
		{"settings are for admins", manager, "GET", "/settings", nil, http.StatusForbidden},
		{"API needs a key", anon, "GET", "/v1/subscribers", nil, 401},
		{"campaign API needs a key", anon, "GET", "/v1/campaigns", nil, 401},
		{"trigger API needs a key", anon, "POST", "/v1/campaigns/x/trigger", nil, 401},
		{"consent API needs a key", anon, "GET", "/v1/consent/x", nil, 401},
		{"widget is public", anon, "GET", "/widget", nil, 200},
		{"webhook without secret", anon, "POST", "/webhooks/telegram/main", nil, 401},
		{"webhook with wrong secret", anon, "POST", "/webhooks/telegram/main", map[string]string{"X-Telegram-Bot-Api-Secret-Token": "nope"}, 403},
		{"unconfigured channel has no webhook", anon, "POST", "/webhooks/viber/main", nil, 404},
	} {
		if got := status(tc.c, tc.method, tc.path, strings.NewReader("{}"), tc.hdr); got != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}
	// Settings show the configured channel with the webhook URL to register.
	req, _ := http.NewRequest("GET", served.base+"/settings", nil)
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "/webhooks/telegram/main") || !strings.Contains(string(page), "manager@shop.example") {
		t.Errorf("settings page lacks the telegram webhook or the users:\n%s", page)
	}
	// With a key the API answers.
	_, key, err := served.s.keys.Create(ctx, "shop", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(anon, "GET", "/v1/subscribers", nil, map[string]string{"Authorization": "Bearer " + key}); got != 200 {
		t.Errorf("API with key: %d", got)
	}
}
