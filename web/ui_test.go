package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/worker"
)

// testNow is the engine clock of the test site: the dashboard's "last 7
// days" count back from it, never from today.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type site struct {
	srv    *httptest.Server
	db     *sqlx.DB
	router *inbox.Router
	// bot is the Telegram fake behind the engine's outbox: a manager's
	// reply goes through worker.Engine.SendText and the Telegram adapter.
	bot *telegramfake.Server
}

// newWeb gives a fresh database, its user store and the web UI on them,
// logging nowhere, for a test to enable pages on and serve.
func newWeb(t *testing.T) (*sqlx.DB, *slog.Logger, *users.Store, *Web) {
	t.Helper()
	d := testenv.DB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := users.NewStore(d, nil)
	w, err := New(st, log, false)
	if err != nil {
		t.Fatal(err)
	}
	return d, log, st, w
}

func newFullSite(t *testing.T, canned ...*inbox.Canned) site {
	d, log, st, w := newWeb(t)
	clk := clock.NewManual(testNow)
	bot := telegramfake.New()
	t.Cleanup(bot.Close)
	// The engine moves runs and sends the managers' replies, as in
	// production (internal/cli stack.go).
	ropt, err := asynq.ParseRedisURI(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := worker.New(worker.Config{DB: d, Redis: ropt, Clock: clk, Handoffs: inbox.Handoffs{},
		Senders: []channels.Sender{telegram.New(telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: bot.URL}}, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	svc := inbox.NewService(d, eng, eng, log, nil)
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
	if err := w.EnableSegments(d); err != nil {
		t.Fatal(err)
	}
	w.UseClock(clk)
	mux := server.NewMux()
	w.Register(mux)
	api := &inbox.API{Svc: svc, Log: log, Live: &inbox.Live{DatabaseURL: testenv.DBURLOf(d), Log: log, Svc: svc}}
	api.Register(mux)
	srv := httptest.NewServer(w.Wrap(mux))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := st.Add(ctx, "manager@shop.example", users.Manager, "manager-password-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "admin@shop.example", users.Admin, "admin-password-12", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "viewer@shop.example", users.Viewer, "viewer-password-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, "marketer@shop.example", users.Marketer, "marketer-password-1", nil); err != nil {
		t.Fatal(err)
	}
	return site{srv: srv, db: d, router: inbox.NewRouter(d, classify.New(nil), eng, log, nil), bot: bot}
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

	browsertest.Login(t, ctx, s.srv.URL, "manager@shop.example", "manager-password-1")
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
		browsertest.ReplyInInbox("Извините! Вернём деньги за суп."),
		chromedp.Text(`#live`, &history, chromedp.ByID),
	)
	if sent := s.bot.SentTo(5001); len(sent) != 1 || !strings.Contains(history, "Вернём деньги") {
		t.Fatalf("reply: sent %+v, history %q", sent, history)
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
	start := testNow.Add(-48 * time.Hour)
	// An older campaign whose only run started 10 days ago: listed by name,
	// with nothing in the last 7 days.
	oldDef, _ := json.Marshal(campaigns.Definition{ID: "spring-promo", Name: "Spring promo", Steps: []campaigns.Step{{ID: "s", Send: &campaigns.SendStep{Template: "s"}}}})
	s.db.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('spring-promo', 'v1')`)
	s.db.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('spring-promo', 'v1', 1, $1, '')`, oldDef)
	var oldSub int64
	s.db.QueryRow(`INSERT INTO subscribers (external_id) VALUES ('old') RETURNING id`).Scan(&oldSub)
	s.db.MustExec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, started_at) VALUES ('spring-promo', 'v1', $1, 'k', $2)`,
		oldSub, testNow.Add(-10*24*time.Hour))
	// A Viber customer who opted in on the account page, then again in the
	// dialog, and a Telegram one: two subscribers, by their first source.
	s.db.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source, proof, created_at) VALUES
		($1, 'viber', 'marketing', true, 'jwt_link', '{"attribution": {"utm_source": "account"}}', $2),
		($1, 'viber', 'service', true, 'jwt_link', '{"attribution": {"utm_source": "account"}}', $2),
		($1, 'viber', 'marketing', true, 'dialog', '{}', $3)`, oldSub, testNow.Add(-3*time.Hour), testNow.Add(-2*time.Hour))
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
	browsertest.Login(t, ctx, s.srv.URL, "admin@shop.example", "admin-password-12")
	// The campaign list: names and the last 7 days' headline numbers.
	var rows [][]string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/dashboard"),
		chromedp.WaitVisible(`#campaigns`, chromedp.ByID),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#campaigns tbody tr')).map(tr => Array.from(tr.cells).slice(0, 6).map(td => td.textContent.trim()))`, &rows),
	)
	wantRows := [][]string{
		{"Spring promo", "0", "0", "0", "0", "—"},
		{"Weekly renewal", fmt.Sprint(want.Audience), fmt.Sprint(want.Sent), fmt.Sprint(want.Read), fmt.Sprint(want.Replied), "22.2%"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(wantRows) {
		t.Fatalf("campaign list shows %q, want %q", rows, wantRows)
	}
	var sources [][]string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#sources tbody tr')).map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`, &sources),
	)
	if fmt.Sprint(sources) != "[[account viber 1]]" {
		t.Fatalf("opt-in sources: %q", sources)
	}
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
	var noReads, channelsTitle string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Text(`#no-reads`, &noReads, chromedp.ByID),
		chromedp.Evaluate(`document.querySelector('#channels').closest('.card').querySelector('h2').textContent`, &channelsTitle),
	)
	if !strings.Contains(noReads, "telegram report no reads") || !strings.Contains(channelsTitle, "(messages)") {
		t.Fatalf("funnel note %q, channels title %q", noReads, channelsTitle)
	}
	if want.Audience != 36 || want.Holdout != 4 || want.Goal == nil || want.Goal.TreatedReached != 8 {
		t.Fatalf("unexpected funnel %+v goal %+v", want, want.Goal)
	}
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
	// dashboardAs signs in as role's user in a browser of its own, reads the
	// dashboard's heading and menu, a campaign's heading and the status of
	// its goal CSV, then runs more.
	dashboardAs := func(role string, more ...chromedp.Action) (h1, h1c, nav string, csvStatus int) {
		t.Helper()
		ctx := browsertest.New(t)
		browsertest.Login(t, ctx, s.srv.URL, role+"@shop.example", role+"-password-1")
		browsertest.Run(t, ctx, 30*time.Second, append([]chromedp.Action{
			chromedp.Navigate(s.srv.URL + "/dashboard"), chromedp.Text(`h1`, &h1, chromedp.ByQuery),
			chromedp.Text(`header.top nav`, &nav, chromedp.ByQuery),
			chromedp.Navigate(s.srv.URL + "/dashboard/weekly-renewal"), chromedp.Text(`h1`, &h1c, chromedp.ByQuery),
			chromedp.Evaluate(`fetch('/dashboard/weekly-renewal/csv?table=goal').then(r => r.status)`, &csvStatus,
				func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
		}, more...)...)
		return h1, h1c, nav, csvStatus
	}
	// A viewer reads the dashboard, but exports of figures are the
	// marketers'; a manager works the inbox only.
	h1, h1c, nav, csvStatus := dashboardAs("viewer")
	if h1 != "Campaigns" || h1c != "Weekly renewal" || !strings.Contains(nav, "Dashboard") || strings.Contains(nav, "Inbox") || csvStatus != 403 {
		t.Fatalf("viewer on dashboard: %q, campaign %q, nav %q, csv %d", h1, h1c, nav, csvStatus)
	}
	// A manager reads the dashboard beside the inbox (the figures their
	// conversations make), but neither exports figures nor opens the
	// marketers' pages.
	var forbidden string
	h1, h1c, nav, csvStatus = dashboardAs("manager",
		chromedp.Navigate(s.srv.URL+"/segments"), chromedp.Text(`main`, &forbidden, chromedp.ByQuery))
	if h1 != "Campaigns" || h1c != "Weekly renewal" || !strings.Contains(nav, "Dashboard") || !strings.Contains(nav, "Inbox") || csvStatus != 403 {
		t.Fatalf("manager on dashboard: %q, campaign %q, nav %q, csv %d", h1, h1c, nav, csvStatus)
	}
	if !strings.Contains(forbidden, "Not for your role") || !strings.Contains(forbidden, "Your role (manager) may not open this page") {
		t.Errorf("a manager on the segments page reads:\n%s", forbidden)
	}
}

func TestCSVCellDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(1)": "'=HYPERLINK(1)", "+1": "'+1", "@x": "'@x", "plain": "plain", "": ""} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q", in, got)
		}
	}
}
