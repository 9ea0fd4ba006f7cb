package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/users/userstest"
)

var bcNow = time.Date(2026, 12, 10, 6, 0, 0, 0, time.UTC)

// bcSetup is a database with a marketing campaign "promo" (telegram, sms),
// the broadcast API behind the real Mux, and a manual clock.
func bcSetup(t *testing.T) (fixture, *server.Mux, *clock.Manual, *Broadcasts) {
	f := setup(t)
	f.campaign(campaigns.Definition{ID: "promo", Trigger: campaigns.Trigger{API: &campaigns.APITrigger{}}}, bcNow.Add(-time.Hour))
	clk := clock.NewManual(bcNow)
	b := NewBroadcasts(f.db, clk.Now, testLog(t), "Europe/Moscow")
	mux := server.NewMux()
	(&BroadcastAPI{B: b, Log: testLog(t)}).Register(mux)
	return f, mux, clk, b
}

type bcCall struct {
	method, path, key, body string
	role                    users.Role
}

func (c bcCall) do(t *testing.T, h http.Handler) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	r.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		r.Header.Set(IdempotencyHeader, c.key)
	}
	if c.role == "" {
		c.role = users.Marketer
	}
	w := httptest.NewRecorder()
	userstest.As(users.Actor{Kind: "key", Name: "shop", Role: c.role}, h).ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m, w.Header()
}

func errField(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func TestBroadcastAPIIdempotency(t *testing.T) {
	t.Parallel()
	f, mux, _, _ := bcSetup(t)
	body := `{"campaign": "promo", "send_at": "2026-12-10T18:00:00+03:00"}`
	code, m, _ := bcCall{"POST", "/v1/broadcasts", "k-1", body, ""}.do(t, mux)
	if code != http.StatusCreated || m["state"] != "scheduled" || m["send_at"] != "2026-12-10T15:00:00Z" || m["created_by"] != "key:shop" {
		t.Fatalf("create: %d %v", code, m)
	}
	id := m["id"]
	// The same key and request (the same instant written in UTC): the same broadcast.
	code, m, hdr := bcCall{"POST", "/v1/broadcasts", "k-1", `{"send_at": "2026-12-10T15:00:00Z", "campaign": "promo"}`, ""}.do(t, mux)
	if code != http.StatusOK || m["id"] != id || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", code, m)
	}
	// The same key with another body: 409 naming the header.
	code, m, _ = bcCall{"POST", "/v1/broadcasts", "k-1", `{"campaign": "promo", "send_at": "2026-12-10T16:00:00Z"}`, ""}.do(t, mux)
	if code != http.StatusConflict || errField(m) != IdempotencyHeader {
		t.Fatalf("conflict: %d %v", code, m)
	}
	// No key: every call is a new broadcast.
	for range 2 {
		if code, _, _ := (bcCall{"POST", "/v1/broadcasts", "", body, ""}).do(t, mux); code != http.StatusCreated {
			t.Fatalf("no key: %d", code)
		}
	}
	if n := f.count(`SELECT count(*) FROM broadcasts`); n != 3 {
		t.Fatalf("%d broadcasts, want 3", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_log WHERE action = 'broadcast.create' AND actor = 'key:shop'`); n != 3 {
		t.Fatalf("%d audit rows, want 3", n)
	}
	code, m, _ = bcCall{"GET", "/v1/broadcasts", "", "", ""}.do(t, mux)
	if list, _ := m["broadcasts"].([]any); code != http.StatusOK || len(list) != 3 {
		t.Fatalf("list: %d %v", code, m)
	}
	code, m, _ = bcCall{"GET", fmt.Sprintf("/v1/broadcasts/%v", id), "", "", ""}.do(t, mux)
	if code != http.StatusOK || m["id"] != id {
		t.Fatalf("get: %d %v", code, m)
	}
}

func TestBroadcastAPIErrors(t *testing.T) {
	t.Parallel()
	f, mux, _, _ := bcSetup(t)
	f.db.MustExec(`INSERT INTO campaigns (id) VALUES ('empty')`)
	tests := []struct {
		name  string
		call  bcCall
		code  int
		field string
	}{
		{"no campaign", bcCall{"POST", "/v1/broadcasts", "", `{}`, ""}, 400, "campaign"},
		{"unknown campaign", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "nope"}`, ""}, 404, "campaign"},
		{"not an instant", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "send_at": "tomorrow"}`, ""}, 400, "send_at"},
		{"in the past", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "send_at": "2026-12-09T06:00:00Z"}`, ""}, 400, "send_at"},
		{"local without a time", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "local_time": true}`, ""}, 400, "send_at"},
		{"local with a zone", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "local_time": true, "send_at": "2026-12-10T18:00:00Z"}`, ""}, 400, "send_at"},
		{"local passed everywhere", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "local_time": true, "send_at": "2026-12-09T12:00"}`, ""}, 400, "send_at"},
		{"unknown field", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "when": "now"}`, ""}, 400, "when"},
		{"bad key", bcCall{"POST", "/v1/broadcasts", "a key", `{"campaign": "promo"}`, ""}, 400, IdempotencyHeader},
		{"dry run of nothing", bcCall{"POST", "/v1/broadcasts/dry-run", "", `{"campaign": ""}`, ""}, 400, "campaign"},
		{"no such broadcast", bcCall{"GET", "/v1/broadcasts/999", "", "", ""}, 404, "id"},
		{"limit not a number", bcCall{"GET", "/v1/broadcasts?limit=ten", "", "", ""}, 400, "limit"},
		{"limit over 1000", bcCall{"GET", "/v1/broadcasts?limit=1001", "", "", ""}, 400, "limit"},
		{"not an id", bcCall{"POST", "/v1/broadcasts/x/cancel", "", "", ""}, 400, "id"},
		// Roles: a viewer reads no campaigns, a manager neither; a marketer may.
		{"viewer lists", bcCall{"GET", "/v1/broadcasts", "", "", users.Viewer}, 403, ""},
		{"manager creates", bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo"}`, users.Manager}, 403, ""},
		{"viewer dry run", bcCall{"POST", "/v1/broadcasts/dry-run", "", `{"campaign": "promo"}`, users.Viewer}, 403, ""},
		{"manager cancels", bcCall{"POST", "/v1/broadcasts/1/cancel", "", "", users.Manager}, 403, ""},
	}
	for _, tt := range tests {
		code, m, _ := tt.call.do(t, mux)
		if code != tt.code || errField(m) != tt.field {
			t.Errorf("%s: %d %v, want %d naming %q", tt.name, code, m, tt.code, tt.field)
		}
	}
	if n := f.count(`SELECT count(*) FROM broadcasts`); n != 0 {
		t.Fatalf("%d broadcasts created by refused calls", n)
	}
}

// TestBroadcastCancelPauseResume: cancel until it starts, pause and resume
// while it runs; the scheduler starts it on the manual clock, creates runs
// in batches while fewer than the window wait, none while paused.
func TestBroadcastCancelPauseResume(t *testing.T) {
	t.Parallel()
	f, mux, clk, _ := bcSetup(t)
	for i := range 25 {
		id := f.subscriber(sub{ext: fmt.Sprint("c", i)})
		f.consent(id, "telegram", "marketing", true)
	}
	quiet := f.subscriber(sub{ext: "no-consent"})
	f.consent(quiet, "telegram", "service", true)
	s := New(f.db, clk.Now, testLog(t), Config{BroadcastBatch: 10, BroadcastWindow: 10})
	ctx := context.Background()
	pass := func() Stats {
		t.Helper()
		st, err := s.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	state := func(id any) string {
		t.Helper()
		_, m, _ := bcCall{"GET", fmt.Sprintf("/v1/broadcasts/%v", id), "", "", ""}.do(t, mux)
		return fmt.Sprint(m["state"], "/", m["runs"])
	}
	steer := func(id any, op string) (int, string) {
		t.Helper()
		code, m, _ := bcCall{"POST", fmt.Sprintf("/v1/broadcasts/%v/%s", id, op), "", "", ""}.do(t, mux)
		return code, errField(m)
	}

	// A scheduled broadcast is cancelled before it starts: nothing happens.
	_, m, _ := bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "send_at": "2026-12-10T07:00:00Z"}`, ""}.do(t, mux)
	cancelled := m["id"]
	if code, _ := steer(cancelled, "pause"); code != http.StatusConflict {
		t.Fatalf("pause of a scheduled broadcast: %d", code)
	}
	if code, _ := steer(cancelled, "cancel"); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	if code, field := steer(cancelled, "cancel"); code != http.StatusConflict || field != "state" {
		t.Fatalf("second cancel: %d %q", code, field)
	}

	_, m, _ = bcCall{"POST", "/v1/broadcasts", "", `{"campaign": "promo", "send_at": "2026-12-10T07:00:00Z"}`, ""}.do(t, mux)
	id := m["id"]
	if st := pass(); st.BroadcastRuns != 0 || state(id) != "scheduled/0" {
		t.Fatalf("before its time: %+v %s", st, state(id))
	}
	clk.Set(time.Date(2026, 12, 10, 7, 0, 0, 0, time.UTC))
	if st := pass(); st.BroadcastRuns != 10 || state(id) != "running/10" {
		t.Fatalf("first pass: %+v %s", st, state(id))
	}
	if code, _ := steer(id, "cancel"); code != http.StatusConflict {
		t.Fatalf("cancel after the start: %d", code)
	}
	// The window is full: ten runs wait for the worker.
	if st := pass(); st.BroadcastRuns != 0 {
		t.Fatalf("window full: %+v", st)
	}
	work := func() {
		f.db.MustExec(`UPDATE flow_runs SET state = 'done', next_at = NULL WHERE trigger_key LIKE 'broadcast:%'`)
	}
	work()
	if st := pass(); st.BroadcastRuns != 10 || state(id) != "running/20" {
		t.Fatalf("second batch: %+v %s", st, state(id))
	}
	// Pause while ten runs wait and a worker holds one of them: the other
	// nine are held (not due to any worker), the held one goes on.
	held := f.db.MustBegin()
	var busy int64
	if err := held.Get(&busy, `SELECT id FROM flow_runs WHERE state = 'active' AND trigger_key LIKE 'broadcast:%' ORDER BY id LIMIT 1 FOR NO KEY UPDATE`); err != nil {
		t.Fatal(err)
	}
	if code, _ := steer(id, "pause"); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	_ = held.Rollback()
	byState := func() string {
		t.Helper()
		var rows []string
		if err := f.db.Select(&rows, `SELECT state || ':' || count(*) FROM flow_runs WHERE trigger_key LIKE 'broadcast:%' GROUP BY state ORDER BY state`); err != nil {
			t.Fatal(err)
		}
		return strings.Join(rows, " ")
	}
	if got := byState(); got != "active:1 done:10 paused:9" {
		t.Fatalf("runs after the pause: %s", got)
	}
	var due int
	if err := f.db.Get(&due, `SELECT count(*) FROM nudge_claim_runs($1, 100, 0)`, clk.Now()); err != nil || due != 1 {
		t.Fatalf("claimable while paused: %d (%v), want only the run in flight", due, err)
	}
	if st := pass(); st.BroadcastRuns != 0 || state(id) != "paused/20" {
		t.Fatalf("paused: %+v %s", st, state(id))
	}
	if code, _ := steer(id, "resume"); code != http.StatusOK {
		t.Fatalf("resume: %d", code)
	}
	if got := byState(); got != "active:10 done:10" {
		t.Fatalf("runs after the resume: %s", got)
	}
	work()
	if st := pass(); st.BroadcastRuns != 5 || state(id) != "done/25" {
		t.Fatalf("last batch: %+v %s", st, state(id))
	}
	runs := f.runs("promo")
	seen := map[int64]bool{}
	for _, r := range runs {
		if seen[r.Subscriber] || r.Subscriber == quiet || r.TriggerKey != fmt.Sprintf("broadcast:%v", id) {
			t.Fatalf("run %+v", r)
		}
		seen[r.Subscriber] = true
	}
	if len(runs) != 25 {
		t.Fatalf("%d runs, want 25", len(runs))
	}
	if st := pass(); st.BroadcastRuns != 0 {
		t.Fatalf("after done: %+v", st)
	}
}

// TestBroadcastLocalTime: 18:00 in each subscriber's zone starts each zone
// at its own instant, and the broadcast is done once it has passed in UTC−12.
func TestBroadcastLocalTime(t *testing.T) {
	t.Parallel()
	f, _, clk, b := bcSetup(t)
	zones := map[string]string{"tokyo": "Asia/Tokyo", "moscow": "Europe/Moscow", "ny": "America/New_York", "mars": "Mars/Olympus"}
	ids := map[string]int64{}
	for ext, z := range zones {
		ids[ext] = f.subscriber(sub{ext: ext, zone: z})
		f.consent(ids[ext], "telegram", "marketing", true)
	}
	ctx := context.Background()
	bc, _, err := b.Create(ctx, BroadcastRequest{Campaign: "promo", SendAt: "2026-12-10T18:00", LocalTime: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	s := New(f.db, clk.Now, testLog(t), Config{})
	got := func() []string {
		var out []string
		for _, r := range f.runs("promo") {
			out = append(out, r.Ext+"@"+r.NextAt.UTC().Format("15:04"))
		}
		return out
	}
	for _, step := range []struct {
		at   string
		want string
	}{
		{"2026-12-10T08:59:00Z", "[]"},
		{"2026-12-10T09:00:00Z", "[tokyo@09:00]"},
		// Moscow at 15:00; the unknown zone Mars/Olympus takes the default (Moscow).
		{"2026-12-10T15:00:00Z", "[tokyo@09:00 mars@15:00 moscow@15:00]"},
		{"2026-12-10T23:00:00Z", "[tokyo@09:00 mars@15:00 moscow@15:00 ny@23:00]"},
	} {
		at, _ := time.Parse(time.RFC3339, step.at)
		clk.Set(at)
		if _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		runs := got()
		if len(runs) > 1 {
			// Zones start in the order their instants come; within one pass by name.
			runs = append(runs[:1], sortedCopy(runs[1:])...)
		}
		if fmt.Sprint(runs) != step.want {
			t.Fatalf("at %s: runs %v, want %s", step.at, runs, step.want)
		}
		if cur, _ := b.Get(ctx, bc.ID); cur.State != map[bool]string{true: BroadcastScheduled, false: BroadcastRunning}[len(runs) == 0] {
			t.Fatalf("at %s: %s", step.at, cur.State)
		}
	}
	clk.Set(time.Date(2026, 12, 11, 6, 0, 0, 0, time.UTC))
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, _ := b.Get(ctx, bc.ID); cur.State != BroadcastDone || cur.Runs != 4 {
		t.Fatalf("after UTC−12's 18:00: %+v", cur)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestBroadcastDryRunCountsPolicyReasons: the dry run counts, through
// policy's decision, who would get it on which channel and who is skipped
// for each reason.
func TestBroadcastDryRunCountsPolicyReasons(t *testing.T) {
	t.Parallel()
	f, mux, clk, _ := bcSetup(t)
	def := campaigns.Definition{ID: "promo2", Topic: campaigns.TopicMarketing,
		Trigger: campaigns.Trigger{API: &campaigns.APITrigger{}},
		Settings: campaigns.Settings{Channels: []string{"telegram", "whatsapp", "sms"},
			QuietHours:   &campaigns.QuietHours{Start: "22:00", End: "09:00"},
			FrequencyCap: &campaigns.FrequencyCap{Max: 1, Per: campaigns.Duration(24 * time.Hour)}}}
	f.campaign(def, bcNow.Add(-time.Hour))
	person := func(ext, zone string, chans ...string) int64 {
		id := f.subscriber(sub{ext: ext, zone: zone})
		for _, ch := range chans {
			f.consent(id, ch, "marketing", true)
			f.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, $2, $3)`, id, ch, ext+"-"+ch)
		}
		return id
	}
	// At 12:00 UTC: Moscow 15:00 (awake), Tokyo 21:00 … 22:00 is quiet.
	for i := range 3 {
		person(fmt.Sprint("tg", i), "Europe/Moscow", "telegram")
	}
	person("sms", "Europe/Moscow", "sms")
	person("tokyo", "Asia/Tokyo", "telegram") // 21:00 at 12:00Z; quiet from 13:00Z
	person("wa", "Europe/Moscow", "whatsapp") // no inbound: window closed
	capped := person("capped", "Europe/Moscow", "telegram")
	f.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, sent_at) VALUES ('m1', $1, 'marketing', 'telegram', 'sent', $2)`, capped, bcNow)
	talking := person("talking", "Europe/Moscow", "telegram")
	f.db.MustExec(`INSERT INTO conversations (subscriber_id, channel, reason, opened_at) VALUES ($1, 'telegram', 'handoff', now())`, talking)
	noID := f.subscriber(sub{ext: "no-identity"})
	f.consent(noID, "telegram", "marketing", true)
	serviceOnly := person("service-only", "Europe/Moscow")
	f.consent(serviceOnly, "telegram", "service", true)
	f.subscriber(sub{ext: "gone", erased: true})

	_ = clk
	code, m, _ := bcCall{"POST", "/v1/broadcasts/dry-run", "", `{"campaign": "promo2", "send_at": "2026-12-10T13:00:00Z"}`, ""}.do(t, mux)
	if code != http.StatusOK {
		t.Fatalf("dry run: %d %v", code, m)
	}
	want := `map[audience:10 channels:map[sms:1 telegram:3] holdout:0 send:4 skipped:map[frequency_cap:1 handoff_open:1 no_consent:1 no_identity:1 quiet_hours:1 window_closed:1]]`
	delete(m, "elapsed_ms")
	delete(m, "send_at")
	delete(m, "campaign_id")
	delete(m, "campaign_version")
	delete(m, "local_time")
	if fmt.Sprint(m) != want {
		t.Fatalf("dry run\n%v\nwant\n%s", m, want)
	}
	// At 23:00 in each subscriber's own zone everyone is in quiet hours:
	// those who would get it and the capped one (quiet hours come first).
	code, m, _ = bcCall{"POST", "/v1/broadcasts/dry-run", "", `{"campaign": "promo2", "send_at": "2026-12-10T23:00", "local_time": true}`, ""}.do(t, mux)
	if code != http.StatusOK || fmt.Sprint(m["send"], m["skipped"]) != "0 map[handoff_open:1 no_consent:1 no_identity:1 quiet_hours:6 window_closed:1]" {
		t.Fatalf("local dry run: %d %v", code, m)
	}
	if n := f.count(`SELECT count(*) FROM broadcasts`); n != 0 {
		t.Fatal("a dry run created a broadcast")
	}
}
