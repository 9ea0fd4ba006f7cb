package cli

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/users"
)

// allowed is who may use each route of `nudge serve`, written out by hand
// (not derived from the routes' actions), so a route mounted with the wrong
// action fails as surely as a broken guard. "public" is everyone, signed
// in or not; "all" is every role. A route missing here fails the test.
var allowed = map[string]string{
	"GET /healthz":         "public",
	"GET /readyz":          "public",
	"GET /metrics":         "public",
	"GET /static/":         "public",
	"GET /login":           "public",
	"POST /login":          "public",
	"POST /logout":         "all",
	"GET /{$}":             "all",
	"GET /widget.js":       "public",
	"GET /widget":          "public",
	"POST /widget/code":    "public",
	"OPTIONS /widget/code": "public",
	"GET /s/{token}":       "public",
	"GET /t/o/{file}":      "public",
	"GET /t/c/{token}":     "public",
	"GET /u/{token}":       "public",
	"POST /u/{token}":      "public",
	"GET /l/{code}":        "public",

	"GET /inbox":                                     "admin manager",
	"GET /inbox/{id}":                                "admin manager",
	"POST /inbox/{id}/reply":                         "admin manager",
	"POST /inbox/{id}/claim":                         "admin manager",
	"POST /inbox/{id}/note":                          "admin manager",
	"POST /inbox/{id}/resolve":                       "admin manager",
	"GET /inbox/media/{id}":                          "admin manager",
	"POST /inbox/shift":                              "admin manager",
	"GET /dashboard":                                 "admin marketer manager viewer",
	"GET /dashboard/{id}":                            "admin marketer manager viewer",
	"GET /dashboard.csv":                             "admin marketer",
	"GET /dashboard/{id}/csv":                        "admin marketer",
	"GET /settings":                                  "admin",
	"GET /segments":                                  "admin marketer",
	"GET /settings/webhooks":                         "admin",
	"POST /settings/webhooks":                        "admin",
	"POST /settings/webhooks/{id}/enabled":           "admin",
	"POST /settings/webhooks/deliveries/{id}/replay": "admin",
	"GET /subscribers/{id}/erase":                    "admin",
	"POST /subscribers/{id}/erase":                   "admin",
	"/admin/queues/":                                 "admin",
	"/admin/queues":                                  "admin",

	"GET /v1/campaigns":                         "admin marketer",
	"POST /v1/campaigns":                        "admin marketer",
	"GET /v1/campaigns/{id}":                    "admin marketer",
	"GET /v1/campaigns/{id}/versions/{version}": "admin marketer",
	"POST /v1/campaigns/{id}/archive":           "admin marketer",
	"POST /v1/segments":                         "admin marketer",
	"GET /v1/segments":                          "admin marketer",
	"GET /v1/segments/{name}/count":             "admin marketer",
	"GET /v1/campaigns/{id}/preview":            "admin marketer",
	"POST /v1/campaigns/{id}/trigger":           "admin",
	"POST /v1/consent":                          "admin",
	"GET /v1/consent/{external_id}":             "admin marketer",
	"POST /v1/subscribers":                      "admin",
	"GET /v1/subscribers":                       "admin marketer",
	"GET /v1/subscribers/{external_id}":         "admin marketer",
	"DELETE /v1/subscribers/{external_id}":      "admin",
	"GET /v1/subscribers/{external_id}/export":  "admin",
	"POST /v1/subscribers/{external_id}/events": "admin",
	"POST /v1/events":                           "admin",
	"POST /v1/subscribers/import":               "admin",
	"GET /v1/webhooks/endpoints":                "admin",
	"POST /v1/webhooks/endpoints":               "admin",
	"GET /v1/webhooks/endpoints/{id}":           "admin",
	"PUT /v1/webhooks/endpoints/{id}":           "admin",
	"DELETE /v1/webhooks/endpoints/{id}":        "admin",
	"GET /v1/webhooks/deliveries":               "admin",
	"GET /v1/webhooks/deliveries/{id}":          "admin",
	"POST /v1/webhooks/deliveries/{id}/replay":  "admin",
	"GET /v1/inbox/conversations":               "admin manager",
	"GET /v1/inbox/conversations/{id}":          "admin manager",
	"POST /v1/inbox/conversations/{id}/claim":   "admin manager",
	"POST /v1/inbox/conversations/{id}/assign":  "admin manager",
	"POST /v1/inbox/conversations/{id}/reply":   "admin manager",
	"POST /v1/inbox/conversations/{id}/notes":   "admin manager",
	"POST /v1/inbox/conversations/{id}/resolve": "admin manager",
	"GET /v1/inbox/stats":                       "admin manager",
	"GET /v1/inbox/events":                      "admin manager",
	"GET /v1/clicks/{code}":                     "admin marketer",
	"GET /v1/audit":                             "admin",
	"GET /audit":                                "admin",
	"GET /v1/broadcasts":                        "admin marketer",
	"POST /v1/broadcasts":                       "admin marketer",
	"POST /v1/broadcasts/dry-run":               "admin marketer",
	"GET /v1/broadcasts/{id}":                   "admin marketer",
	"POST /v1/broadcasts/{id}/cancel":           "admin marketer",
	"POST /v1/broadcasts/{id}/pause":            "admin marketer",
	"POST /v1/broadcasts/{id}/resume":           "admin marketer",
	"GET /broadcasts":                           "admin marketer",
	"POST /broadcasts/dry-run":                  "admin marketer",
	"POST /broadcasts":                          "admin marketer",
	"POST /broadcasts/{id}/cancel":              "admin marketer",
	"POST /broadcasts/{id}/pause":               "admin marketer",
	"POST /broadcasts/{id}/resume":              "admin marketer",
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// TestEveryRouteChecksItsRole walks every route of `nudge serve` over real
// HTTP as nobody, as each role signed in (a session, with its CSRF token)
// and as an API key of each role, and asserts the role check lets through
// exactly whom the table above allows. A refusal is told from a handler's
// own 401/403 (a webhook's bad signature) by users.DeniedHeader.
func TestEveryRouteChecksItsRole(t *testing.T) {
	f := newFakes(t, fakes.Options{})
	vars := f.Env()
	vars["NUDGE_EMAIL_TRACKING_SECRET"] = "tracking-secret" // mounts /t/ and /u/
	ss := serveStack(t, vars)
	routes := ss.s.server().Routes()
	ctx := context.Background()
	st := users.NewStore(ss.s.db, nil)
	type caller struct {
		name         string
		role         users.Role // "" = nobody
		cookie, csrf string
		key          string
	}
	callers := []caller{{name: "anonymous"}}
	login := func(c *caller) {
		tok, sess, err := st.Login(ctx, string(c.role)+"@shop.example", "the password of "+string(c.role), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		c.cookie, c.csrf = tok, sess.CSRF
	}
	for _, r := range users.Roles {
		if _, err := st.Add(ctx, string(r)+"@shop.example", r, "the password of "+string(r), nil); err != nil {
			t.Fatal(err)
		}
		c := caller{name: string(r) + " session", role: r}
		login(&c)
		_, key, err := ss.s.keys.Create(ctx, "key-"+string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		callers = append(callers, c, caller{name: string(r) + " key", role: r, key: key})
	}
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	seen := map[string]bool{}
	for _, rt := range routes {
		pattern := rt.Pattern
		if strings.HasPrefix(pattern, "/webhooks/") || strings.Contains(pattern, " /webhooks/") {
			pattern = "webhook" // one per configured channel, all signed by the provider
		}
		seen[rt.Pattern] = true
		want, ok := allowed[pattern]
		if pattern == "webhook" {
			want, ok = "public", true
		}
		if !ok {
			t.Errorf("route %q (action %s) has no row in the table: say who may use it", rt.Pattern, rt.Action)
			continue
		}
		method, path, found := strings.Cut(rt.Pattern, " ")
		if !found {
			method, path = http.MethodGet, rt.Pattern
		}
		path = strings.ReplaceAll(path, "{$}", "")
		path = pathParam.ReplaceAllString(path, "1")
		for i := range callers {
			c := &callers[i]
			may := want == "public" || c.role != "" && (want == "all" || strings.Contains(" "+want+" ", " "+string(c.role)+" "))
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			req, _ := http.NewRequestWithContext(rctx, method, ss.base+path, strings.NewReader(""))
			switch {
			case c.key != "":
				req.Header.Set("Authorization", "Bearer "+c.key)
			case c.cookie != "":
				req.AddCookie(&http.Cookie{Name: users.CookieName, Value: c.cookie})
				req.Header.Set("X-CSRF-Token", c.csrf)
			}
			res, err := client.Do(req)
			if err != nil {
				cancel()
				t.Fatalf("%s as %s: %v", rt.Pattern, c.name, err)
			}
			res.Body.Close() // the live events stream ends here
			cancel()
			denied := res.Header.Get(users.DeniedHeader) != ""
			switch {
			case may && denied:
				t.Errorf("%s as %s: refused (%d), want allowed", rt.Pattern, c.name, res.StatusCode)
			case !may && !denied:
				t.Errorf("%s as %s: allowed (%d), want refused", rt.Pattern, c.name, res.StatusCode)
			case !may && c.role == "" && res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusSeeOther:
				t.Errorf("%s as nobody: %d, want 401 or the sign-in page", rt.Pattern, res.StatusCode)
			case !may && c.role != "" && res.StatusCode != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403", rt.Pattern, c.name, res.StatusCode)
			}
			if rt.Pattern == "POST /logout" && c.cookie != "" {
				login(c) // the request ended the session
			}
		}
	}
	for p := range allowed {
		if !seen[p] {
			t.Errorf("the table names %q, which `nudge serve` does not mount", p)
		}
	}
}

// The commands that give roles: users add/set with --role and --queues,
// apikeys create --role (admin by default); each change is audited as the
// CLI's.
func TestRoleCommands(t *testing.T) {
	run := importCLI(t)
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"users", "add", "anna@shop.example", "--role", "manager", "--queues", "care, billing", "--password-stdin"}, 1, ""}, // empty stdin
		{[]string{"users", "add", "anna@shop.example", "--role", "manager", "--queues", "care, billing"}, 0, "created anna@shop.example (manager)\n"},
		{[]string{"users", "add", "mark@shop.example", "--role", "marketer"}, 0, "created mark@shop.example (marketer)\n"},
		{[]string{"users", "add", "root@shop.example", "--role", "root"}, 1, ""},
		{[]string{"users", "add", "mia@shop.example"}, 0, "created mia@shop.example (manager)\n"}, // --role defaults to manager
		{[]string{"users", "set", "anna@shop.example", "--queues", "care"}, 0, "anna@shop.example: manager queues=care\n"},
		{[]string{"users", "set", "mark@shop.example", "--role", "viewer"}, 0, "mark@shop.example: viewer\n"},
		{[]string{"users", "set", "mark@shop.example"}, 1, ""},
		{[]string{"users", "set", "nobody@shop.example", "--role", "viewer"}, 1, ""},
		{[]string{"apikeys", "create", "figures", "--role", "superuser"}, 1, ""},
	} {
		code, out, errs := run(c.args...)
		if code != c.code || c.stdout != "" && !strings.HasPrefix(out, c.stdout) {
			t.Errorf("%v: code %d, stdout %q, stderr %q", c.args, code, out, errs)
		}
	}
	for _, k := range []string{"backend", "figures"} {
		args := []string{"apikeys", "create", k}
		if k == "figures" {
			args = append(args, "--role", "viewer")
		}
		if code, _, errs := run(args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	_, out, _ := run("apikeys", "list")
	if !regexp.MustCompile(`(?m)^backend\s+admin\s`).MatchString(out) || !regexp.MustCompile(`(?m)^figures\s+viewer\s`).MatchString(out) {
		t.Errorf("apikeys list:\n%s", out)
	}
	_, out, _ = run("users", "list")
	if !regexp.MustCompile(`(?m)^anna@shop.example\s+manager\s+\S+ queues=care$`).MatchString(out) {
		t.Errorf("users list:\n%s", out)
	}
	es := cliAudit(t)
	var got []string
	for _, e := range es {
		got = append(got, e.Action+" "+e.Subject)
	}
	want := "apikey.create key:figures,apikey.create key:backend,user.set user:mark@shop.example,user.set user:anna@shop.example," +
		"user.add user:mia@shop.example,user.add user:mark@shop.example,user.add user:anna@shop.example"
	if strings.Join(got, ",") != want {
		t.Errorf("audited %q, want %q", strings.Join(got, ","), want)
	}
}
