package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/browsertest"
)

// TestBrowserDashboardShowsSplitVariants: a campaign with a split shows a
// row per variant with the figures analytics computes from the runs'
// recorded variants, the goal rate and the difference from the first
// variant with its interval; the CSV holds the same rows.
func TestBrowserDashboardShowsSplitVariants(t *testing.T) {
	s := newFullSite(t)
	ctx := browsertest.New(t)
	def, _ := json.Marshal(campaigns.Definition{ID: "renew-ab", Name: "Renewal A/B", Steps: []campaigns.Step{
		{ID: "ab", Split: &campaigns.SplitStep{Variants: []campaigns.SplitVariant{
			{ID: "menu", Weight: 3, Goto: "menu"}, {ID: "discount", Weight: 1, Goto: "discount"}}}},
		{ID: "menu", Send: &campaigns.SendStep{Template: "m"}, Next: "renewed"},
		{ID: "discount", Send: &campaigns.SendStep{Template: "d"}},
		{ID: "renewed", Goal: &campaigns.GoalStep{Event: "subscription.renewed", Within: campaigns.Duration(72 * time.Hour)}}}})
	s.db.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('renew-ab', 'v1')`)
	s.db.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('renew-ab', 'v1', 1, $1, '')`, def)
	start := testNow.Add(-48 * time.Hour)
	// 30 menu runs (6 renew), 10 discount runs (6 renew), 2 held out.
	for i := 0; i < 42; i++ {
		var sub, run int64
		s.db.QueryRow(`INSERT INTO subscribers (external_id) VALUES ($1) RETURNING id`, fmt.Sprint("s", i)).Scan(&sub)
		variant, step, ctxJSON := "menu", "menu", `{}`
		if i >= 30 {
			variant, step = "discount", "discount"
		}
		holdout := i >= 40
		if !holdout {
			ctxJSON = `{"split": {"ab": "` + variant + `"}}`
		}
		s.db.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, holdout, started_at, context)
			VALUES ('renew-ab', 'v1', $1, 'k', $2, $3, $4) RETURNING id`, sub, holdout, start, ctxJSON).Scan(&run)
		if holdout {
			continue
		}
		s.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id, topic, channel, status, sent_at, delivered_at, attempt)
			VALUES ($1, $2, 'renew-ab', 'v1', $3, $4, 'marketing', 'viber', 'delivered', $5, $5, 0)`, fmt.Sprint("m", i), sub, run, step, start)
		if i%5 == 0 {
			s.db.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(time.Hour))
		}
		if i >= 30 && i%2 == 1 {
			s.db.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(time.Hour))
		}
	}
	f, err := analytics.New(s.db).Funnel(context.Background(), "renew-ab", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Splits) != 1 || len(f.Splits[0].Variants) != 2 {
		t.Fatalf("splits %+v", f.Splits)
	}
	m, d := f.Splits[0].Variants[0], f.Splits[0].Variants[1]
	if m.Funnel.Audience != 30 || m.Funnel.Goal.TreatedReached != 6 || d.Funnel.Audience != 10 || d.Funnel.Goal.TreatedReached != 6 || d.Diff == nil {
		t.Fatalf("menu %+v %+v, discount %+v %+v", m.Funnel, m.Funnel.Goal, d.Funnel, d.Funnel.Goal)
	}
	browsertest.Login(t, ctx, s.srv.URL, "marketer@shop.example", "marketer-password-1") // figures and their CSV are the marketers'
	var rows [][]string
	var csvText string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/dashboard/renew-ab"),
		chromedp.WaitVisible(`table.variants[data-step="ab"]`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('table.variants tbody tr')).map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`, &rows),
		chromedp.Evaluate(`fetch('/dashboard/renew-ab/csv?table=variants').then(r => r.text())`, &csvText,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	// discount − menu = 0.6 − 0.2 = +40 pp; se = sqrt(.6·.4/10 + .2·.8/30) = 0.1713.
	want := [][]string{
		{"menu", "75.0%", "menu", "30", "30", "0", "0", "6", "20.0%", "baseline"},
		{"discount", "25.0%", "discount", "10", "10", "0", "0", "6", "60.0%", fmt.Sprintf("%+.1f pp (%+.1f pp … %+.1f pp)", 100**d.Diff, 100**d.DiffLo, 100**d.DiffHi)},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("variants table shows\n%q\nwant\n%q", rows, want)
	}
	if !strings.Contains(rows[1][9], "+40.0 pp (+6.4 pp … +73.6 pp)") {
		t.Errorf("difference cell %q", rows[1][9])
	}
	wantCSV := "split_step,variant,share,goto,runs,sent,delivered,read,replied,goal_reached,goal_rate,diff,diff_lo,diff_hi\n" +
		"ab,menu,0.7500,menu,30,30,30,0,0,6,0.2000,,,\n" +
		fmt.Sprintf("ab,discount,0.2500,discount,10,10,10,0,0,6,0.6000,%.4f,%.4f,%.4f\n", *d.Diff, *d.DiffLo, *d.DiffHi)
	if csvText != wantCSV {
		t.Fatalf("variants csv:\n%s\nwant\n%s", csvText, wantCSV)
	}
}
