package worker

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/scheduler"
)

// TestSplitEndToEnd: a campaign with a 50/50 split, applied as the CLI and
// the API apply it and triggered through the trigger API, is worked by the
// engine on the test clock. Each subscriber gets the message of the variant
// the hash gives them, the run records it, and the funnel shows both
// variants with their goal rates and the difference with its 95% interval.
func TestSplitEndToEnd(t *testing.T) {
	h := setup(t)
	ctx := context.Background()
	f, err := campaigns.Parse("renew-ab.yaml", []byte(testenv.SplitCampaign))
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := campaigns.NewStore(h.db, campaigns.WithLinter(channelcheck.Linter()), campaigns.WithClock(h.clock.Now)).Apply(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	subs := h.subscribers(n, "Europe/Moscow")
	var exts []string
	if err := h.db.Select(&exts, `SELECT external_id FROM subscribers WHERE id = ANY($1) ORDER BY id`, pq.Array(subs)); err != nil {
		t.Fatal(err)
	}
	api := scheduler.NewAPI(h.db, scheduler.APIConfig{Now: h.clock.Now})
	for _, ext := range exts {
		if st, body, _, err := api.Trigger(ctx, "renew-ab", scheduler.TriggerRequest{Subscriber: ext}, ""); err != nil || st != 201 {
			t.Fatalf("trigger %s: %d %s %v", ext, st, body, err)
		}
	}
	h.settle()

	var runs []struct {
		Sub     int64  `db:"subscriber_id"`
		Variant string `db:"variant"`
		Step    string `db:"step"`
	}
	if err := h.db.Select(&runs, `SELECT r.subscriber_id, coalesce(r.context->'split'->>'ab', '') AS variant,
		coalesce((SELECT string_agg(m.step_id, ',') FROM messages m WHERE m.run_id = r.id AND m.status = 'sent'), '') AS step
		FROM flow_runs r WHERE r.campaign_id = 'renew-ab' ORDER BY r.subscriber_id`); err != nil {
		t.Fatal(err)
	}
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	def := f.Def
	byVariant := map[string][]int64{}
	for _, r := range runs {
		want := def.Steps[0].Split.Variants[def.Steps[0].Split.Pick("renew-ab", v.Version, "ab", r.Sub)]
		if r.Variant != want.ID || r.Step != want.Goto {
			t.Fatalf("subscriber %d: recorded variant %q and sent %q, want %q and %q", r.Sub, r.Variant, r.Step, want.ID, want.Goto)
		}
		byVariant[r.Variant] = append(byVariant[r.Variant], r.Sub)
	}
	menu, discount := byVariant["menu"], byVariant["discount"]
	if len(menu) == 0 || len(discount) == 0 {
		t.Fatalf("variants menu %d, discount %d: both must get sends", len(menu), len(discount))
	}
	// Every discount subscriber renews within the window; one menu subscriber does.
	h.exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at)
		SELECT s, 'subscription.renewed', $2 FROM unnest($1::bigint[]) s`, pq.Array(append(discount, menu[0])), h.clock.Now().Add(time.Hour))
	h.clock.Advance(4 * 24 * time.Hour)
	h.settle()
	if left := h.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'renew-ab' AND state <> 'done'`); left != 0 {
		t.Fatalf("%d runs not done after the goal window", left)
	}

	fun, err := analytics.New(h.db).Funnel(ctx, "renew-ab", v.Version)
	if err != nil {
		t.Fatal(err)
	}
	if fun.Audience != n || fun.Sent != n || len(fun.Splits) != 1 || fun.Splits[0].Step != "ab" || len(fun.Splits[0].Variants) != 2 {
		t.Fatalf("funnel %+v", fun)
	}
	vm, vd := fun.Splits[0].Variants[0], fun.Splits[0].Variants[1]
	for _, c := range []struct {
		v       analytics.Variant
		id      string
		runs    int
		reached int
	}{{vm, "menu", len(menu), 1}, {vd, "discount", len(discount), len(discount)}} {
		if c.v.ID != c.id || c.v.Funnel.Audience != c.runs || c.v.Funnel.Sent != c.runs ||
			c.v.Funnel.Goal == nil || c.v.Funnel.Goal.TreatedRuns != c.runs || c.v.Funnel.Goal.TreatedReached != c.reached {
			t.Errorf("variant %s: %+v goal %+v, want %d runs, all sent, %d reached", c.id, c.v.Funnel, c.v.Funnel.Goal, c.runs, c.reached)
		}
	}
	if vm.Diff != nil {
		t.Errorf("the first variant has a difference from itself: %v", *vm.Diff)
	}
	p1, p0 := 1.0, 1/float64(len(menu))
	se := math.Sqrt(p1*(1-p1)/float64(len(discount)) + p0*(1-p0)/float64(len(menu)))
	if vd.Diff == nil || math.Abs(*vd.Diff-(p1-p0)) > 1e-9 || math.Abs(*vd.DiffLo-(p1-p0-1.96*se)) > 1e-9 || math.Abs(*vd.DiffHi-(p1-p0+1.96*se)) > 1e-9 {
		t.Errorf("discount − menu = %v [%v, %v], want %.4f ± %.4f", vd.Diff, vd.DiffLo, vd.DiffHi, p1-p0, 1.96*se)
	}
}

// TestSplitRunKeepsEarlierSplits: a run that passes a second split keeps the
// variant of the first in its context (the transition merges only top-level
// keys), and a context without a usable split record starts one.
func TestSplitRunKeepsEarlierSplits(t *testing.T) {
	def := sendDef("two-splits",
		campaigns.Step{ID: "second", Split: &campaigns.SplitStep{Variants: []campaigns.SplitVariant{
			{ID: "x", Weight: 1, Goto: "hello"}, {ID: "y", Weight: 1, Goto: "hello"}}}},
		campaigns.Step{ID: "hello", Send: &campaigns.SendStep{Template: "hello"}})
	want := def.Steps[0].Split.Variants[def.Steps[0].Split.Pick("two-splits", "v1", "second", 7)].ID
	for _, c := range []struct{ ctx, first string }{
		{`{"payload": {"order_id": "A-1"}, "split": {"first": "b"}}`, "b"},
		{`{"split": null}`, ""},
		{`{"split": "garbage"}`, ""},
		{``, ""},
	} {
		tr := splitRun(&def, "v1", 0, runRow{ID: 1, Seq: 3, Campaign: "two-splits", Sub: 7, Context: []byte(c.ctx)}, t0, time.UTC)
		got, _ := tr.Ctx[campaigns.SplitContextKey].(map[string]string)
		if tr.State != StateActive || tr.Step != "hello" || got["second"] != want || got["first"] != c.first {
			t.Errorf("context %s: %+v", c.ctx, tr)
		}
	}
}
