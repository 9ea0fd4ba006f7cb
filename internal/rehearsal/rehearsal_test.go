package rehearsal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// scale: an hour of flow time per wall second, so a night of quiet hours
// (22:00–09:00 Moscow) passes in about 11 s while the 48 h a feedback
// question waits for its answer stays far beyond the test's run.
const scale = 3600

// rehearsal is one deployment: its processes, public URL and clients.
type rehearsal struct {
	t       *testing.T
	ctx     context.Context
	vars    map[string]string // the environment every nudge process gets
	nudge   string            // binary
	logs    *logs
	base    string // public https URL (the proxy)
	control string // nudge-fakes control API
	web     *http.Client
	apiKey  string
	now     func() time.Time // the shared flow clock
	jwtKey  []byte
	d       *sqlx.DB
}

// TestDeploymentRehearsal deploys Nudge as the README says and walks the
// GrowFood case through HTTP alone: serve, two workers and the scheduler as
// separate processes configured only by environment, behind a TLS proxy that
// is their public URL, the providers faked by nudge-fakes in its own process.
// A customer opts in through a signed deep link and /start, the order event
// asks for feedback, a 👎 hands the customer to a manager, who answers and
// resolves; a Telegram message that is never delivered falls back to SMS, an
// SMS reported undelivered (signed over the public URL) to email. Each effect
// happens exactly once.
func TestDeploymentRehearsal(t *testing.T) {
	began := time.Now()
	r := deploy(t)

	anna := customer{ext: "rh-anna", name: "Анна", chat: "910001", phone: "+79990010001", email: "anna@rehearsal.example"}
	boris := customer{ext: "rh-boris", name: "Борис", chat: "910002", phone: "+79990010002", email: "boris@rehearsal.example"}
	for _, c := range []customer{anna, boris} {
		r.optIn(c)
	}
	// Boris's Telegram never gets the message (he blocked the bot) and his
	// phone is unreachable: the SMS is reported undelivered.
	r.fake("telegram", "plan", fakes.Action{User: boris.chat, Plan: fakes.PlanNeverDelivered})
	r.fake("sms", "plan", fakes.Action{User: boris.phone, Plan: fakes.PlanUndelivered})

	// The shop reports last week's deliveries: the feedback question falls
	// due now (after quiet hours, if it is night in Moscow).
	at := r.now().Add(-7 * 24 * time.Hour)
	var events []map[string]any
	for _, c := range []customer{anna, boris} {
		events = append(events, map[string]any{"external_id": c.ext, "name": "order.delivered", "occurred_at": at.Format(time.RFC3339Nano),
			"payload": map[string]any{"order_id": "GF-" + c.ext}, "idempotency_key": "delivered-" + c.ext})
	}
	r.api("POST", "/v1/events", map[string]any{"events": events}, http.StatusAccepted, nil)

	// Anna is asked in Telegram and answers 👎.
	ask := r.waitSent("the feedback question to Anna", func(m fakes.Message) bool {
		return m.Channel == "telegram" && m.To == anna.chat && slices.Contains(m.Buttons, "dislike")
	})
	// People take a while to answer: half a second is half an hour of flow.
	time.Sleep(500 * time.Millisecond)
	if st := r.fake("telegram", "press", fakes.Action{User: anna.chat, Data: "dislike", MessageID: ask.ID}); st != http.StatusOK {
		t.Fatalf("Anna's 👎: the webhook answered %d", st)
	}

	// A manager finds her conversation in the inbox, answers and resolves.
	csrf := r.signIn("care@rehearsal.example", "care-manager-pass-1")
	var conv struct {
		ID    int64  `json:"id"`
		Queue string `json:"queue"`
		State string `json:"state"`
	}
	r.wait("Anna's conversation in the inbox", func() bool {
		var list struct {
			Conversations []struct {
				ID         int64  `json:"id"`
				ExternalID string `json:"external_id"`
				Queue      string `json:"queue"`
				State      string `json:"state"`
			} `json:"conversations"`
		}
		r.webJSON("GET", "/v1/inbox/conversations", "", nil, http.StatusOK, &list)
		for _, c := range list.Conversations {
			if c.ExternalID == anna.ext {
				conv.ID, conv.Queue, conv.State = c.ID, c.Queue, c.State
				return true
			}
		}
		return false
	})
	if conv.Queue != "care" {
		t.Errorf("Anna's conversation is in queue %q, want care", conv.Queue)
	}
	reply := "Анна, простите! Заменим блюдо бесплатно."
	r.webJSON("POST", fmt.Sprintf("/v1/inbox/conversations/%d/reply", conv.ID), csrf, map[string]any{"text": reply}, http.StatusNoContent, nil)
	r.waitSent("the manager's reply in Telegram", func(m fakes.Message) bool {
		return m.Channel == "telegram" && m.To == anna.chat && m.Text == reply
	})
	r.webJSON("POST", fmt.Sprintf("/v1/inbox/conversations/%d/resolve", conv.ID), csrf, nil, http.StatusNoContent, nil)
	r.wait("the resolved conversation", func() bool {
		var got struct {
			Conversation struct {
				State string `json:"state"`
			} `json:"conversation"`
			State string `json:"state"`
		}
		r.webJSON("GET", fmt.Sprintf("/v1/inbox/conversations/%d", conv.ID), "", nil, http.StatusOK, &got)
		return got.State == "resolved" || got.Conversation.State == "resolved"
	})
	r.wait("Anna's flow to resume and end", func() bool {
		return r.count(`SELECT count(*) FROM flow_runs r JOIN subscribers s ON s.id = r.subscriber_id
			WHERE s.external_id = $1 AND r.campaign_id = 'weekly-feedback' AND r.state = 'done'`, anna.ext) == 1
	})

	// Boris's ladder: Telegram refused, the SMS reported undelivered, email.
	r.waitSent("the email rung to Boris", func(m fakes.Message) bool { return m.Channel == "email" && m.To == boris.email })
	time.Sleep(time.Second) // an hour more of flow time: nothing more may come

	// Exactly one message per rung, in Nudge and at the providers.
	for _, c := range []struct {
		ext, channel string
		attempt      int
	}{{anna.ext, "telegram", 0}, {boris.ext, "telegram", 0}, {boris.ext, "sms", 1}, {boris.ext, "email", 2}} {
		if n := r.count(`SELECT count(*) FROM messages m JOIN subscribers s ON s.id = m.subscriber_id
			WHERE s.external_id = $1 AND m.campaign_id = 'weekly-feedback' AND m.step_id = 'ask' AND m.attempt = $2 AND m.channel = $3`,
			c.ext, c.attempt, c.channel); n != 1 {
			t.Errorf("%s: %d messages on rung %d (%s), want 1", c.ext, n, c.attempt, c.channel)
		}
	}
	if n := r.count(`SELECT count(*) FROM messages m JOIN subscribers s ON s.id = m.subscriber_id
		WHERE s.external_id = $1 AND m.attempt > 0`, anna.ext); n != 0 {
		t.Errorf("Anna, who got and answered the question, had %d fallback messages", n)
	}
	got := map[string]int{}
	for _, m := range r.sent() {
		got[m.Channel+" "+m.To]++
		if m.Channel == "sms" && !strings.Contains(m.Text, "GrowFood") && !strings.Contains(m.Text, "Борис") {
			t.Errorf("the SMS to %s does not look like the feedback question: %q", m.To, m.Text)
		}
	}
	want := map[string]int{
		"telegram " + anna.chat: 2, // the question and the manager's reply
		"sms " + boris.phone:    1,
		"email " + boris.email:  1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s received %d messages, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("unexpected messages: %s received %d", k, n)
		}
	}
	t.Logf("rehearsal took %v", time.Since(began).Round(time.Millisecond))
}

type customer struct{ ext, name, chat, phone, email string }

// deploy builds the binaries and starts the processes as an operator would.
func deploy(t *testing.T) *rehearsal {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := &logs{}
	t.Cleanup(func() {
		if t.Failed() {
			l.dump(t)
		}
	})
	dbURL, redisURL := testenv.DBURL(t), testenv.Redis(t)
	bin := buildBinaries(t)

	// The public URL: a TLS reverse proxy that forwards to serve's own
	// address and, as proxies do, sets Host to it.
	listen := testenv.FreeAddr(t)
	target, _ := url.Parse("http://" + listen)
	proxy := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
	}, ErrorLog: log.New(l.writer("proxy"), "", log.LstdFlags)})
	t.Cleanup(proxy.Close)
	ca := filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	ccfg := clock.Config{Scale: scale, Start: testenv.ClockStart(t)}.Fixed()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	vars := map[string]string{
		"NUDGE_DATABASE_URL": dbURL, "NUDGE_REDIS_URL": redisURL,
		"NUDGE_HTTP_ADDR": listen, "NUDGE_BASE_URL": proxy.URL,
		"NUDGE_JWT_KEYS": "shop:HS256:base64:" + base64.StdEncoding.EncodeToString(key), "NUDGE_JWT_ISSUER": "https://shop.rehearsal.example",
		"NUDGE_DB_MAX_CONNS": "12", "NUDGE_WORKER_CONCURRENCY": "4", "NUDGE_WORKER_POLL": "50ms",
		"NUDGE_SCHEDULER_INTERVAL": "100ms", "NUDGE_SCHEDULER_LEADER_RETRY": "200ms",
	}
	for k, v := range ccfg.Env() {
		vars[k] = v
	}
	control, fenv := startFakes(t, l, filepath.Join(bin, "nudge-fakes"), vars,
		"--addr", "127.0.0.1:0", "--base-url", proxy.URL, "--ca-file", ca)
	for k, v := range fenv {
		vars[k] = v
	}
	for k, v := range ccfg.Env() {
		if fenv[k] != v {
			t.Fatalf("nudge-fakes prints %s=%q, the deployment has %q", k, fenv[k], v)
		}
	}

	jar, _ := cookiejar.New(nil)
	web := proxy.Client()
	web.Jar = jar
	web.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	web.Timeout = 20 * time.Second
	r := &rehearsal{t: t, ctx: ctx, vars: vars, nudge: filepath.Join(bin, "nudge"), logs: l, base: proxy.URL, control: control,
		web: web, now: ccfg.Clock().Now, jwtKey: key}

	run(t, l, r.nudge, vars, "", "migrate", "up")
	run(t, l, r.nudge, vars, "", "campaign", "apply", filepath.Join(moduleRoot(t), "examples", "growfood"))
	out := run(t, l, r.nudge, vars, "", "apikeys", "create", "shop-backend")
	if r.apiKey = regexp.MustCompile(`nk_[A-Za-z0-9_-]+`).FindString(out); r.apiKey == "" {
		t.Fatalf("apikeys create printed no key: %q", out)
	}
	run(t, l, r.nudge, vars, "care-manager-pass-1\n", "users", "add", "care@rehearsal.example", "--role", "manager", "--password-stdin")

	start(t, l, "nudge serve", r.nudge, vars, "serve")
	start(t, l, "nudge worker 1", r.nudge, vars, "worker")
	start(t, l, "nudge worker 2", r.nudge, vars, "worker")
	start(t, l, "nudge scheduler", r.nudge, vars, "scheduler")
	r.wait("serve to be ready behind the proxy", func() bool {
		resp, err := web.Get(r.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	out = run(t, l, r.nudge, vars, "", "channels", "setup", "telegram")
	if want := r.base + "/webhooks/telegram/"; !strings.Contains(out, want) {
		t.Fatalf("channels setup telegram registered no webhook under %s: %q", want, out)
	}
	d, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r.d = d
	return r
}

// optIn is the shop's backend upserting the customer with checkout consent
// for SMS and email, then the customer following the signed deep link into
// Telegram and pressing Start.
func (r *rehearsal) optIn(c customer) {
	r.t.Helper()
	r.api("POST", "/v1/subscribers", map[string]any{"external_id": c.ext, "name": c.name, "locale": "ru", "time_zone": "Europe/Moscow",
		"attributes": map[string]any{"subscription_status": "active"},
		"identities": []map[string]string{{"channel": "sms", "address": c.phone}, {"channel": "email", "address": c.email}}}, http.StatusCreated, nil)
	for _, ch := range []string{"sms", "email"} {
		r.api("POST", "/v1/consent", map[string]any{"external_id": c.ext, "action": "grant", "channel": ch, "topics": []string{"service"},
			"text_version": "checkout-1"}, http.StatusOK, nil)
	}
	now := r.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": c.ext, "topics": []string{"service"},
		"aud": "nudge", "iss": "https://shop.rehearsal.example", "jti": "rh-" + c.ext,
		"iat": now.Unix(), "exp": now.Add(12 * time.Hour).Unix()})
	tok.Header["kid"] = "shop"
	signed, err := tok.SignedString(r.jwtKey)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.web.Get(r.base + "/s/" + signed + "?channel=telegram")
	if err != nil {
		r.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	prefix := "https://t.me/" + fakes.TelegramBot + "?start="
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, prefix) {
		r.t.Fatalf("deep link for %s: %d %q\n%s", c.ext, resp.StatusCode, loc, body)
	}
	if st := r.fake("telegram", "start", fakes.Action{User: c.chat, Code: strings.TrimPrefix(loc, prefix)}); st != http.StatusOK {
		r.t.Fatalf("/start of %s: the webhook answered %d", c.ext, st)
	}
	r.wait(c.ext+"'s Telegram consent", func() bool {
		var state struct {
			Current []struct {
				Channel string `json:"channel"`
				Topic   string `json:"topic"`
				Granted bool   `json:"granted"`
			} `json:"current"`
		}
		r.api("GET", "/v1/consent/"+c.ext, nil, http.StatusOK, &state)
		for _, s := range state.Current {
			if s.Channel == "telegram" && s.Topic == "service" && s.Granted {
				return true
			}
		}
		return false
	})
}

// api calls the /v1 API with the shop's key through the public URL.
func (r *rehearsal) api(method, path string, body any, want int, out any) {
	r.t.Helper()
	r.do(method, path, map[string]string{"Authorization": "Bearer " + r.apiKey}, body, want, out)
}

// webJSON calls the managers' API with the session cookie (and CSRF token on writes).
func (r *rehearsal) webJSON(method, path, csrf string, body any, want int, out any) {
	r.t.Helper()
	h := map[string]string{}
	if csrf != "" {
		h["X-CSRF-Token"] = csrf
	}
	r.do(method, path, h, body, want, out)
}

func (r *rehearsal) do(method, path string, headers map[string]string, body any, want int, out any) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := r.web.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		r.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs a manager in through the login form and returns the
// session's CSRF token.
func (r *rehearsal) signIn(email, password string) string {
	r.t.Helper()
	page := func(path string) string {
		resp, err := r.web.Get(r.base + path)
		if err != nil {
			r.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			r.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		m := csrfRe.FindStringSubmatch(string(b))
		if m == nil {
			r.t.Fatalf("GET %s: no CSRF token in the page", path)
		}
		return m[1]
	}
	tok := page("/login")
	resp, err := r.web.PostForm(r.base+"/login", url.Values{"email": {email}, "password": {password}, "csrf": {tok}})
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("sign in as %s: %d", email, resp.StatusCode)
	}
	return page("/inbox")
}

// fake plays a customer action on nudge-fakes and returns the status
// Nudge's webhook answered.
func (r *rehearsal) fake(channel, action string, a fakes.Action) int {
	r.t.Helper()
	b, _ := json.Marshal(a)
	resp, err := http.Post(r.control+"/"+channel+"/"+action, "application/json", bytes.NewReader(b))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("fakes %s %s: %d %s", channel, action, resp.StatusCode, body)
	}
	var res fakes.ActionResult
	if err := json.Unmarshal(body, &res); err != nil {
		r.t.Fatal(err)
	}
	return res.Status
}

// sent is what every fake accepted.
func (r *rehearsal) sent() []fakes.Message {
	r.t.Helper()
	resp, err := http.Get(r.control + "/sent")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []fakes.Message
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *rehearsal) waitSent(what string, ok func(fakes.Message) bool) fakes.Message {
	r.t.Helper()
	var found fakes.Message
	r.wait(what, func() bool {
		for _, m := range r.sent() {
			if ok(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func (r *rehearsal) count(q string, args ...any) int {
	r.t.Helper()
	return testenv.Count(r.t, r.ctx, r.d, q, args...)
}

// wait polls ok for up to 40 s of wall time: at most 11 h of quiet hours
// (11 s) plus the work.
func (r *rehearsal) wait(what string, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			r.dumpState()
			r.t.Fatalf("timed out waiting for %s (flow time %s)", what, r.now().Format(time.RFC3339))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// dumpState logs the engine's tables a failed wait is about.
func (r *rehearsal) dumpState() {
	if r.d == nil {
		return
	}
	for _, q := range []string{
		`SELECT id, subscriber_id, name, occurred_at, created_at FROM subscriber_events ORDER BY id`,
		`SELECT name, last_id FROM scheduler_cursors`,
		`SELECT id, campaign_id, subscriber_id, state, step_id, next_at FROM flow_runs ORDER BY id`,
		`SELECT id, subscriber_id, step_id, attempt, channel, status FROM messages ORDER BY id`,
		`SELECT subscriber_id, channel, topic, granted FROM consent_state ORDER BY subscriber_id`,
	} {
		rows, err := r.d.QueryxContext(context.Background(), q)
		if err != nil {
			r.t.Logf("%s: %v", q, err)
			continue
		}
		var out []string
		for rows.Next() {
			v, _ := rows.SliceScan()
			out = append(out, fmt.Sprint(v...))
		}
		rows.Close()
		r.t.Logf("%s:\n  %s", q, strings.Join(out, "\n  "))
	}
}
