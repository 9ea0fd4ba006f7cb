package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestFunnelAndUplift(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	def := campaigns.Definition{ID: "renewal", Name: "Weekly renewal", Steps: []campaigns.Step{
		{ID: "remind", Send: &campaigns.SendStep{Template: "r"}},
		{ID: "renewed", Goal: &campaigns.GoalStep{Event: "subscription.renewed", Within: campaigns.Duration(72 * time.Hour)}},
	}}
	raw, _ := json.Marshal(def)
	d.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('renewal', 'v2')`)
	d.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('renewal', 'v1', 1, $1, ''), ('renewal', 'v2', 2, $1, '')`, raw)
	start := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	// 10 treated runs on v2 and 4 holdout runs; one run on v1 that must not count.
	for i := 0; i < 15; i++ {
		var sub, run int64
		d.QueryRow(`INSERT INTO subscribers (external_id) VALUES ($1) RETURNING id`, fmt.Sprint("s", i)).Scan(&sub)
		version, holdout := "v2", i >= 10 && i < 14
		if i == 14 {
			version = "v1"
		}
		d.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, holdout, started_at)
			VALUES ('renewal', $1, $2, 'k', $3, $4) RETURNING id`, version, sub, holdout, start).Scan(&run)
		if holdout {
			if i < 11 { // 1 of 4 holdout subscribers renews anyway
				d.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(time.Hour))
			}
			continue
		}
		status, sent := "delivered", true
		switch {
		case i < 6:
			status = "read"
		case i == 9:
			status, sent = "skipped", false
		case i == 8:
			status = "sent"
		}
		var sentAt, readAt, delAt any
		if sent {
			sentAt = start
		}
		if status == "read" || status == "delivered" {
			delAt = start.Add(time.Minute)
		}
		if status == "read" {
			readAt = start.Add(2 * time.Minute)
		}
		d.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, topic, channel, status, sent_at, delivered_at, read_at, attempt)
			VALUES ($1, $2, 'renewal', $3, $4, 'marketing', 'telegram', $5, $6, $7, $8, 0)`, fmt.Sprint("m", i), sub, version, run, status, sentAt, delAt, readAt)
		if i == 8 { // not delivered on Telegram: fell back to SMS, which was delivered
			d.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, topic, channel, status, sent_at, delivered_at, attempt)
				VALUES ('fb8', $1, 'renewal', 'v2', $2, 'marketing', 'sms', 'delivered', $3, $3, 1)`, sub, run, start.Add(15*time.Minute))
		}
		if i < 3 { // 3 replies: 2 positive (fast), 1 negative handed off
			sentiment := "positive"
			if i == 2 {
				sentiment = "negative"
				var conv int64
				d.QueryRow(`INSERT INTO conversations (subscriber_id, channel, reason, run_ids, opened_at) VALUES ($1, 'telegram', 'handoff', ARRAY[$2::bigint], $3) RETURNING id`, sub, run, start).Scan(&conv)
			}
			d.MustExec(`INSERT INTO replies (channel, provider_event_id, subscriber_id, run_id, campaign_id, campaign_version, step_id, sentiment, rule, outcome, reaction_ms, created_at)
				VALUES ('telegram', $1, $2, $3, 'renewal', 'v2', 'remind', $4, 'sentiment', 'branch', $5, $6)`, fmt.Sprint("r", i), sub, run, sentiment, (i+1)*60000, start)
		}
		if i < 6 { // 6 of 10 treated renew within 3 days; one more renews too late
			d.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(24*time.Hour))
		} else if i == 6 {
			d.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'subscription.renewed', $2)`, sub, start.Add(100*time.Hour))
		}
	}
	s := New(d)
	f, err := s.Funnel(ctx, "renewal", "v2")
	if err != nil {
		t.Fatal(err)
	}
	want := Funnel{Audience: 10, Holdout: 4, Sent: 9, Delivered: 9, Read: 6, Replied: 3, Positive: 2, Negative: 1, HandedOff: 1, Skipped: 1}
	if f.Audience != want.Audience || f.Holdout != want.Holdout || f.Sent != want.Sent || f.Delivered != want.Delivered ||
		f.Read != want.Read || f.Replied != want.Replied || f.Positive != 2 || f.Negative != 1 || f.HandedOff != 1 || f.Skipped != 1 {
		t.Fatalf("funnel %+v", f)
	}
	g := f.Goal
	if g == nil || g.TreatedReached != 6 || g.HoldoutReached != 1 || g.HoldoutRuns != 4 {
		t.Fatalf("goal %+v", g)
	}
	// uplift 0.6 − 0.25 = 0.35; se = sqrt(.6*.4/10 + .25*.75/4) = 0.2675
	se := math.Sqrt(0.6*0.4/10 + 0.25*0.75/4)
	if math.Abs(*g.Uplift-0.35) > 1e-9 || math.Abs(*g.UpliftLo-(0.35-1.96*se)) > 1e-9 {
		t.Fatalf("uplift %v [%v, %v]", *g.Uplift, *g.UpliftLo, *g.UpliftHi)
	}
	all, _ := s.Funnel(ctx, "renewal", "")
	if all.Audience != 11 {
		t.Fatalf("all versions audience %d", all.Audience)
	}
	r, err := s.Reactions(ctx, "renewal", "v2")
	if err != nil || r.N != 3 || *r.MedianS != 120 || r.Buckets[0].N != 3 {
		t.Fatalf("reactions %+v %v", r, err)
	}
	ch, err := s.Channels(ctx, "renewal", "v2")
	if err != nil || len(ch) != 2 || ch[0].Channel != "telegram" || ch[0].First != 9 || ch[1].Channel != "sms" || ch[1].Fallback != 1 {
		t.Fatalf("channels %+v %v", ch, err)
	}
	cs, err := s.Campaigns(ctx)
	if err != nil || len(cs) != 1 || cs[0].Runs != 15 || cs[0].Versions != 2 {
		t.Fatalf("campaigns %+v %v", cs, err)
	}
}
