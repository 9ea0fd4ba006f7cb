package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users"
)

// runMover moves runs like the runtime: compare-and-set on step_seq, in the
// caller's executor.
type runMover struct{}

func (runMover) MoveRun(ctx context.Context, q db.Executor, runID int64, seq int, to string, _ map[string]any) (bool, bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE flow_runs SET step_id = $3, step_seq = step_seq + 1,
		state = CASE WHEN $3 = '' THEN 'done' ELSE 'active' END WHERE id = $1 AND step_seq = $2`, runID, seq, to)
	if err != nil {
		return false, false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, false, nil
}

func (runMover) PauseRun(ctx context.Context, q db.Executor, runID int64, seq int) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE flow_runs SET state = 'paused', step_seq = step_seq + 1 WHERE id = $1 AND step_seq = $2`, runID, seq)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (runMover) Wake(context.Context) {}

type recorder struct {
	db   *sqlx.DB
	mu   sync.Mutex
	sent []channels.Message
}

// SendText records a manager's reply as worker.Engine.SendText does (once
// per key) and keeps it.
func (r *recorder) SendText(ctx context.Context, sub int64, m channels.Message) (int64, bool, error) {
	var id int64
	err := r.db.GetContext(ctx, &id, `INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, address, status, content)
		VALUES ($1, $2, 'service', $3, $4, 'sent', json_build_object('text', $5::text)) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		m.IdempotencyKey, sub, m.Channel, m.To, m.Text)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return id, true, nil
}

type site struct {
	srv    *httptest.Server
	db     *sqlx.DB
	router *inbox.Router
	out    *recorder
}

func newFullSite(t *testing.T, canned ...*inbox.Canned) site {
	d := testenv.DB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := users.NewStore(d, nil)
	w, err := New(st, log, false)
	if err != nil {
		t.Fatal(err)
	}
	out := &recorder{db: d}
	res := runMover{}
	svc := inbox.NewService(d, out, res, log, nil)
	var c *inbox.Canned
	if len(canned) > 0 {
		c = canned[0]
	}
	if err := w.EnableInbox(svc, c); err != nil {
		t.Fatal(err)
	}
	if err := w.EnableDashboard(analytics.New(d)); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Register(mux)
	api := &inbox.API{Svc: svc, Log: log, Live: &inbox.Live{DatabaseURL: testenv.DBURLOf(d), Log: log},
		Require: func(h http.Handler) http.Handler { return w.Require(users.Manager, h) },
		UserID: func(r *http.Request) (int64, bool) {
			s, ok := users.FromContext(r.Context())
			return s.User.ID, ok
		}}
	api.Register(mux)
	srv := httptest.NewServer(w.Wrap(mux))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := st.Add(ctx, "manager@shop.example", users.Manager, "manager-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "admin@shop.example", users.Admin, "admin-password-12"); err != nil {
		t.Fatal(err)
	}
	return site{srv: srv, db: d, router: inbox.NewRouter(d, classify.New(nil), res, log, nil), out: out}
}

func login(t *testing.T, ctx context.Context, base, email, pw string) {
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, email, chromedp.ByID),
		chromedp.SendKeys(`#password`, pw, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`header.top`, chromedp.ByQuery),
	)
}

func TestBrowserInboxLiveReplyResolve(t *testing.T) {
	s := newFullSite(t)
	ctx := browsertest.New(t)
	// A customer in a paused hand-off, so resolving resumes a run.
	var sub, run int64
	s.db.QueryRow(`INSERT INTO subscribers (external_id, name) VALUES ('c1', 'Мария <script>alert(1)</script>') RETURNING id`).Scan(&sub)
	s.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', '5001')`, sub)
	def, _ := json.Marshal(campaigns.Definition{ID: "weekly-feedback", Steps: []campaigns.Step{
		{ID: "care", Handoff: &campaigns.HandoffStep{Queue: "care"}}, {ID: "sorry", Send: &campaigns.SendStep{Template: "sorry"}}}})
	s.db.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('weekly-feedback', 'v1')`)
	s.db.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('weekly-feedback', 'v1', 1, $1, '')`, def)
	// Paused by its hand-off at seq 0 (the pause bumped it to 1); the hand-off
	// itself is recorded below, while the page is open.
	s.db.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq)
		VALUES ('weekly-feedback', 'v1', $1, 'k', 'paused', 'care', 1) RETURNING id`, sub).Scan(&run)

	login(t, ctx, s.srv.URL, "manager@shop.example", "manager-password-1")
	var before string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/inbox"),
		chromedp.WaitVisible(`#live`, chromedp.ByID),
		chromedp.Text(`#live`, &before, chromedp.ByID),
	)
	if !strings.Contains(before, "No conversations") {
		t.Fatalf("inbox not empty: %q", before)
	}
	// The hand-off and the customer's complaint arrive while the page is open.
	time.Sleep(300 * time.Millisecond) // let the page's EventSource connect
	if err := (inbox.Handoffs{}).HandOff(context.Background(), s.db, run, "care", 0, "care", "Негативный отзыв", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.router.Reply(context.Background(), channels.Event{Type: channels.EventText, Channel: channels.Telegram, From: "5001",
		ProviderEventID: "u1", Text: "Суп был холодный, не понравилось", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var after string
	browsertest.Run(t, ctx, 30*time.Second,
		// No reload: the live region updates from the event stream.
		chromedp.Poll(`document.getElementById('live').textContent.includes('Суп был холодный')`, nil),
		chromedp.Text(`#live`, &after, chromedp.ByID),
	)
	if !strings.Contains(after, "Суп был холодный") || !strings.Contains(after, "<script>") {
		t.Fatalf("live inbox: %q", after)
	}
	browsertest.Screenshot(t, ctx, "inbox.png")

	// Open it, reply, resolve.
	var history string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Click(`#live a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reply-text`, chromedp.ByID),
		chromedp.SendKeys(`#reply-text`, "Извините! Вернём деньги за суп.", chromedp.ByID),
		chromedp.Submit(`#reply-text`, chromedp.ByID),
		chromedp.WaitVisible(`tr.h-manager`, chromedp.ByQuery),
		chromedp.Text(`#live`, &history, chromedp.ByID),
	)
	if len(s.out.sent) != 1 || s.out.sent[0].To != "5001" || !strings.Contains(history, "Вернём деньги") {
		t.Fatalf("reply: sent %+v, history %q", s.out.sent, history)
	}
	browsertest.Screenshot(t, ctx, "conversation.png")
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Submit(`#resolution`, chromedp.ByID),
		chromedp.WaitVisible(`.badge.positive`, chromedp.ByQuery),
	)
	var state string
	s.db.QueryRow(`SELECT state FROM flow_runs WHERE id = $1`, run).Scan(&state)
	if state != "active" {
		t.Fatalf("run after resolve: %s", state)
	}
}

func TestBrowserDashboardMatchesDatabase(t *testing.T) {
	s := newFullSite(t)
	ctx := browsertest.New(t)
	def, _ := json.Marshal(campaigns.Definition{ID: "weekly-renewal", Name: "Weekly renewal", Steps: []campaigns.Step{
		{ID: "remind", Send: &campaigns.SendStep{Template: "r"}},
		{ID: "renewed", Goal: &campaigns.GoalStep{Event: "subscription.renewed", Within: campaigns.Duration(72 * time.Hour)}}}})
	s.db.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('weekly-renewal', 'v1')`)
	s.db.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('weekly-renewal', 'v1', 1, $1, '')`, def)
	start := time.Now().Add(-48 * time.Hour)
	for i := 0; i < 40; i++ {
		var sub, run int64
		s.db.QueryRow(`INSERT INTO subscribers (external_id) VALUES ($1) RETURNING id`, fmt.Sprint("s", i)).Scan(&sub)
		s.db.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, holdout, started_at)
			VALUES ('weekly-renewal', 'v1', $1, 'k', $2, $3) RETURNING id`, sub, i%10 == 0, start).Scan(&run)
		if i%10 == 0 {
			continue
		}
		ch, attempt := "telegram", 0
		s.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, topic, channel, status, sent_at, delivered_at, read_at, attempt)
			VALUES ($1, $2, 'weekly-renewal', 'v1', $3, 'marketing', $4, 'read', $5::timestamptz, $5::timestamptz, CASE WHEN $6 THEN $5::timestamptz END, $7)`,
			fmt.Sprint("m", i), sub, run, ch, start, i%3 == 0, attempt)
		if i%4 == 0 {
			s.db.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(time.Hour))
		}
		if i%5 == 1 {
			s.db.MustExec(`INSERT INTO replies (channel, provider_event_id, subscriber_id, run_id, campaign_id, campaign_version, step_id, sentiment, rule, outcome, reaction_ms, created_at)
				VALUES ('telegram', $1, $2, $3, 'weekly-renewal', 'v1', 'remind', 'positive', 'sentiment', 'branch', $4, $5)`, fmt.Sprint("r", i), sub, run, i*60000, start)
		}
	}
	want, err := analytics.New(s.db).Funnel(context.Background(), "weekly-renewal", "")
	if err != nil {
		t.Fatal(err)
	}
	login(t, ctx, s.srv.URL, "admin@shop.example", "admin-password-12")
	var cells []string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/dashboard/weekly-renewal"),
		chromedp.WaitVisible(`#funnel`, chromedp.ByID),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#funnel td.n')).map(td => td.textContent)`, &cells),
	)
	var wantCells []string
	for _, st := range want.Steps() {
		wantCells = append(wantCells, fmt.Sprint(st.N))
	}
	wantCells = append(wantCells, fmt.Sprint(want.Holdout), fmt.Sprint(want.Skipped))
	if strings.Join(cells, ",") != strings.Join(wantCells, ",") {
		t.Fatalf("dashboard shows %v, database says %v", cells, wantCells)
	}
	if want.Audience != 36 || want.Holdout != 4 || want.Goal == nil || want.Goal.TreatedReached != 8 {
		t.Fatalf("unexpected funnel %+v goal %+v", want, want.Goal)
	}
	browsertest.Screenshot(t, ctx, "dashboard.png")
	// CSV export of the same table.
	var csvText string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Evaluate(`fetch('/dashboard/weekly-renewal/csv?table=funnel').then(r => r.text())`, &csvText,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if !strings.HasPrefix(csvText, "stage,runs,rate\nAudience,36,1.0000\n") {
		t.Fatalf("csv: %q", csvText)
	}
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Evaluate(`fetch('/dashboard/weekly-renewal/csv?table=goal').then(r => r.text())`, &csvText,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if csvText != "group,runs,reached,rate\ntreated,36,8,0.2222\nholdout,4,0,0.0000\n" {
		t.Fatalf("goal csv: %q", csvText)
	}
	// A manager may not open the dashboard.
	ctx2 := browsertest.New(t)
	login(t, ctx2, s.srv.URL, "manager@shop.example", "manager-password-1")
	var h1 string
	browsertest.Run(t, ctx2, 30*time.Second, chromedp.Navigate(s.srv.URL+"/dashboard"), chromedp.Text(`h1`, &h1, chromedp.ByQuery))
	if h1 != "Not for your role" {
		t.Fatalf("manager on dashboard: %q", h1)
	}
}

func TestCSVCellDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(1)": "'=HYPERLINK(1)", "+1": "'+1", "@x": "'@x", "plain": "plain", "": ""} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q", in, got)
		}
	}
}
