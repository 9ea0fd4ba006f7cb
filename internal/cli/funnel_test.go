package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// funnelCampaign is the split tests' A/B campaign with a 10% holdout.
func funnelCampaign() string {
	return strings.Replace(testenv.SplitCampaign, "settings:\n", "settings:\n  holdout_percent: 10\n", 1)
}

// TestCampaignFunnelCLI: `nudge campaign funnel` prints the funnel, the
// goal against the holdout and a row per split variant with the difference
// from the first variant, as analytics computes them.
func TestCampaignFunnelCLI(t *testing.T) {
	url := testenv.DBURL(t)
	env := map[string]string{"NUDGE_DATABASE_URL": url}
	path := filepath.Join(t.TempDir(), "renew-ab.yaml")
	if err := os.WriteFile(path, []byte(funnelCampaign()), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, env, "campaign", "apply", path); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errOut)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var version string
	if err := d.Get(&version, `SELECT current_version FROM campaigns WHERE id = 'renew-ab'`); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	// 20 menu runs (4 renew), 20 discount runs (10 renew), 4 held out (1 renews).
	for i := 0; i < 44; i++ {
		var sub, run int64
		if err := d.Get(&sub, `INSERT INTO subscribers (external_id) VALUES ($1) RETURNING id`, fmt.Sprint("s", i)); err != nil {
			t.Fatal(err)
		}
		variant, holdout := "menu", i >= 40
		if i >= 20 {
			variant = "discount"
		}
		ctxJSON := `{"split": {"ab": "` + variant + `"}}`
		if holdout {
			ctxJSON = `{}`
		}
		if err := d.Get(&run, `INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, holdout, started_at, context)
			VALUES ('renew-ab', $1, $2, 'k', $3, $4, $5) RETURNING id`, version, sub, holdout, start, ctxJSON); err != nil {
			t.Fatal(err)
		}
		if !holdout {
			d.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id, topic, channel, status, sent_at, attempt)
				VALUES ($1, $2, 'renew-ab', $3, $4, $5, 'marketing', 'telegram', 'sent', $6, 0)`, fmt.Sprint("m", i), sub, version, run, variant, start)
		}
		if (i < 20 && i%5 == 0) || (i >= 20 && i < 40 && i%2 == 0) || i == 40 {
			d.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(time.Hour))
		}
	}
	code, out, errOut := runCLI(t, env, "campaign", "funnel", "renew-ab", "--version", "1")
	if code != 0 {
		t.Fatalf("funnel: %d %s %s", code, out, errOut)
	}
	// discount − menu = 0.5 − 0.2 = +30 pp; se = sqrt(.5·.5/20 + .2·.8/20) = 0.1432.
	for _, w := range []string{
		"renew-ab (version " + version + "): Renewal offer A/B",
		"goal subscription.renewed within 3d: treated 14/40 (35.0%), holdout 1/4 (25.0%), uplift +10.0 pp",
		"split ab:",
		"VARIANT   SHARE  GOTO      RUNS  SENT  DELIVERED  READ  REPLIED  GOAL  GOAL RATE  VS FIRST",
		"menu      50.0%  menu      20    20    20         0     0        4     20.0%      baseline",
		"discount  50.0%  discount  20    20    20         0     0        10    50.0%      +30.0 pp (95% CI +1.9 … +58.1)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = runCLI(t, env, "campaign", "funnel", "renew-ab", "--json")
	var f analytics.Funnel
	if err := json.Unmarshal([]byte(out), &f); code != 0 || err != nil || len(f.Splits) != 1 || f.Splits[0].Variants[1].Diff == nil {
		t.Fatalf("funnel --json: %d %v %s", code, err, out)
	}
	if code, _, _ := runCLI(t, env, "campaign", "funnel", "nope"); code != 1 {
		t.Errorf("unknown campaign: exit %d, want 1", code)
	}
}
