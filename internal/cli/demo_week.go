package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/worker"
)

// demoWeekCmd runs the GrowFood week on sandbox channels with a scaled clock:
// deliveries a week ago → feedback prompts → simulated replies → menu or
// hand-off → Friday renewal reminders, then prints the funnel per campaign.
func (a *App) demoWeekCmd() *cobra.Command {
	var dir string
	var n int
	var wall time.Duration
	cmd := &cobra.Command{
		Use:   "demo-week",
		Short: "Simulate a GrowFood week on sandbox channels and print the funnel per campaign",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemoWeek(cmd.Context(), dir, n, wall)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "examples/growfood", "campaign files to apply")
	cmd.Flags().IntVar(&n, "subscribers", 300, "simulated customers")
	cmd.Flags().DurationVar(&wall, "wall", 90*time.Second, "wall time for 8 days of flow time")
	return cmd
}

const (
	qDemoSubscribers = `
INSERT INTO subscribers (external_id, name, locale, time_zone, attributes)
SELECT 'demo-week-' || $2 || '-' || g, (ARRAY['Анна','Борис','Вера','Глеб','Дарья','Emma','Liam'])[1 + g % 7],
       CASE WHEN g % 7 >= 5 THEN 'en' ELSE 'ru' END,
       (ARRAY['Europe/Moscow','Asia/Yekaterinburg','Europe/Kaliningrad','Asia/Novosibirsk'])[1 + g % 4],
       '{"subscription_status": "active"}'
  FROM generate_series(1, $1) g RETURNING id`
	qDemoIdentities = `
INSERT INTO channel_identities (subscriber_id, channel, address)
SELECT id, 'telegram', 'tg' || id FROM unnest($1::bigint[]) id
UNION ALL SELECT id, 'sms', '+7999' || lpad(id::text, 7, '0') FROM unnest($1::bigint[]) id
UNION ALL SELECT id, 'email', 'customer' || id || '@example.com' FROM unnest($1::bigint[]) id`
	qDemoConsent = `
INSERT INTO consent_events (subscriber_id, channel, topic, granted, source, proof)
SELECT id, '*', t, true, 'widget', '{"demo": true}' FROM unnest($1::bigint[]) id, unnest(ARRAY['service','marketing']) t`
	qDemoEvents = `
INSERT INTO subscriber_events (subscriber_id, name, occurred_at, idempotency_key)
SELECT id, 'order.delivered', $2::timestamptz + make_interval(mins => (id % 1440)::int), 'demo-order-' || id
  FROM unnest($1::bigint[]) id`
	// Two in five customers who read the renewal reminder renew two hours later.
	qDemoRenewals = `
INSERT INTO subscriber_events (subscriber_id, name, occurred_at, idempotency_key)
SELECT m.subscriber_id, 'subscription.renewed', m.read_at + interval '2 hours', 'demo-renewed-' || m.id
  FROM messages m
 WHERE m.campaign_id = 'weekly-renewal' AND m.status = 'read' AND m.subscriber_id % 5 < 2
   AND NOT EXISTS (SELECT 1 FROM subscriber_events e
                    WHERE e.subscriber_id = m.subscriber_id AND e.idempotency_key = 'demo-renewed-' || m.id)`
	qDemoLatest = `SELECT greatest(now(), (SELECT max(occurred_at) + interval '8 days' FROM subscriber_events))`
	qDemoFunnel = `
SELECT m.campaign_id,
       count(*) FILTER (WHERE m.attempt = 0 AND m.status IN ('sent','delivered','read')) AS sent,
       count(*) FILTER (WHERE m.attempt = 0 AND m.status IN ('delivered','read')) AS delivered,
       count(*) FILTER (WHERE m.attempt = 0 AND m.status = 'read') AS read,
       count(*) FILTER (WHERE m.attempt > 0 AND m.status IN ('sent','delivered','read')) AS fallbacks,
       count(*) FILTER (WHERE m.status = 'skipped') AS skipped
  FROM messages m WHERE m.subscriber_id = ANY($1) GROUP BY 1 ORDER BY 1`
	qDemoRuns = `
SELECT campaign_id, count(*) AS runs,
       count(*) FILTER (WHERE (context->'reply'->>'matched')::boolean) AS replied,
       count(*) FILTER (WHERE (context->'goal'->>'converted')::boolean) AS converted,
       count(*) FILTER (WHERE state = 'paused') AS handed_off
  FROM flow_runs WHERE subscriber_id = ANY($1) GROUP BY 1`
)

func (a *App) runDemoWeek(ctx context.Context, dir string, n int, wall time.Duration) error {
	core, err := a.Core()
	if err != nil {
		return err
	}
	scfg := scheduler.LoadConfig(a.Env)
	if err := a.Env.Err(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	d, err := a.OpenDB(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := migrations.Up(ctx, d.DB); err != nil {
		return err
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(paths) == 0 {
		return fmt.Errorf("no campaign files in %s", dir)
	}
	store := campaigns.NewStore(d)
	for _, p := range paths {
		f, err := campaigns.Load(p)
		if err != nil {
			return err
		}
		if _, _, err := store.Apply(ctx, f); err != nil {
			return fmt.Errorf("apply %s: %w", p, err)
		}
	}
	// Flow time: a Monday 09:00 Moscow after anything earlier demos left (the
	// scheduler fires each occurrence once); 8 days pass in `wall`.
	msk, _ := time.LoadLocation("Europe/Moscow")
	var latest time.Time
	if err := d.GetContext(ctx, &latest, qDemoLatest); err != nil {
		return fmt.Errorf("demo start: %w", err)
	}
	now := latest.In(msk)
	start := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, msk)
	for start.Weekday() != time.Monday {
		start = start.AddDate(0, 0, 1)
	}
	factor := float64(8*24*time.Hour) / float64(wall)
	clk := clock.NewScaled(start, factor)

	tag := fmt.Sprintf("%d", time.Now().Unix())
	var subs []int64
	if err := d.SelectContext(ctx, &subs, qDemoSubscribers, n, tag); err != nil {
		return fmt.Errorf("seed subscribers: %w", err)
	}
	for _, q := range []string{qDemoIdentities, qDemoConsent} {
		if _, err := d.ExecContext(ctx, q, pq.Array(subs)); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	// Deliveries 6–7 days before the start: feedback prompts come on day one.
	if _, err := d.ExecContext(ctx, qDemoEvents, pq.Array(subs), start.Add(-7*24*time.Hour+2*time.Hour)); err != nil {
		return fmt.Errorf("seed events: %w", err)
	}

	ropt, err := asynq.ParseRedisURI(core.RedisURL)
	if err != nil {
		return err
	}
	gopt, err := redis.ParseURL(core.RedisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(gopt)
	defer rdb.Close()
	var eng *worker.Engine
	statuses := func(ctx context.Context, ev channels.Event) error { return eng.Statuses.Apply(ctx, ev) }
	inbound := func(ctx context.Context, ev channels.Event) error {
		_, err := eng.Replies.HandleEvent(ctx, ev)
		return err
	}
	tg := sandbox.New(sandbox.Config{Kind: channels.Telegram, DB: d, Now: clk.Now, Statuses: statuses, Inbound: inbound,
		Default: sandbox.Behavior{Report: channels.EventRead, ReportAfter: 6 * time.Minute},
		Replies: &sandbox.ReplyModel{Positive: 0.55, Negative: 0.15, Min: 10 * time.Minute, Max: 6 * time.Hour,
			PositiveText: "Да, очень вкусно!", NegativeText: "Нет, не понравилось"}})
	for i, s := range subs { // one in eight never opens the messenger: SMS takes over
		if i%8 == 0 {
			tg.Script(fmt.Sprintf("tg%d", s), sandbox.Behavior{})
		}
	}
	sms := sandbox.New(sandbox.Config{Kind: channels.SMS, DB: d, Now: clk.Now, Statuses: statuses,
		Default: sandbox.Behavior{Report: channels.EventDelivered, ReportAfter: time.Minute}})
	mail := sandbox.New(sandbox.Config{Kind: channels.Email, DB: d, Now: clk.Now, Statuses: statuses})
	eng, err = worker.New(worker.Config{DB: d, Redis: ropt, Clock: clk, Log: a.Log,
		Senders: []channels.Sender{tg, sms, mail}, Poll: 100 * time.Millisecond, Lease: 10 * time.Second})
	if err != nil {
		return err
	}
	defer eng.Close()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	disp := eng.Dispatcher(core.DatabaseURL)
	disp.Start()
	defer disp.Stop()
	done := make(chan error, 1)
	go func() { done <- eng.Run(wctx) }()
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				for _, s := range []*sandbox.Sandbox{tg, sms, mail} {
					if _, err := s.Tick(wctx); err != nil {
						a.Log.Warn("sandbox tick", "error", err)
					}
				}
			}
		}
	}()
	scfg.Interval = 50 * time.Millisecond
	scfg.MaxLateness = 12 * time.Hour
	scfg.EventGapGrace = time.Millisecond // no writer is in flight in the demo
	sched := scheduler.New(d, clk.Now, a.Log, scfg)
	if err := sched.Start(wctx); err != nil {
		return err
	}
	began := time.Now()
	fmt.Fprintf(a.Stdout, "GrowFood week: %d customers, flow time from %s, %.0fx\n", n, start.Format("Mon 2 Jan 15:04 MST"), factor)
	end := start.Add(8 * 24 * time.Hour)
	day := -1
	for clk.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := d.ExecContext(ctx, qDemoRenewals); err != nil {
			a.Log.Warn("demo renewals", "error", err)
		}
		if dd := int(clk.Now().Sub(start) / (24 * time.Hour)); dd != day && dd < 8 {
			day = dd
			fmt.Fprintf(a.Stdout, "  day %d: %s\n", day+1, clk.Now().In(msk).Format("Mon 2 Jan 15:04"))
		}
	}
	sched.Stop()
	stop()
	<-done
	fmt.Fprintf(a.Stdout, "8 days of flow time in %s of wall time\n", time.Since(began).Round(time.Second))
	return a.printFunnel(context.Background(), d, subs)
}

func (a *App) printFunnel(ctx context.Context, d interface {
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}, subs []int64) error {
	var msgs []struct {
		Campaign  string `db:"campaign_id"`
		Sent      int    `db:"sent"`
		Delivered int    `db:"delivered"`
		Read      int    `db:"read"`
		Fallbacks int    `db:"fallbacks"`
		Skipped   int    `db:"skipped"`
	}
	if err := d.SelectContext(ctx, &msgs, qDemoFunnel, pq.Array(subs)); err != nil {
		return err
	}
	var runs []struct {
		Campaign  string `db:"campaign_id"`
		Runs      int    `db:"runs"`
		Replied   int    `db:"replied"`
		Converted int    `db:"converted"`
		HandedOff int    `db:"handed_off"`
	}
	if err := d.SelectContext(ctx, &runs, qDemoRuns, pq.Array(subs)); err != nil {
		return err
	}
	byC := map[string]int{}
	for i, r := range runs {
		byC[r.Campaign] = i
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Campaign < msgs[j].Campaign })
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "campaign\truns\tsent\tdelivered\tread\treplied\thanded off\tconverted\tfallbacks\tskipped\t")
	for _, m := range msgs {
		var r struct{ Runs, Replied, Converted, HandedOff int }
		if i, ok := byC[m.Campaign]; ok {
			r.Runs, r.Replied, r.Converted, r.HandedOff = runs[i].Runs, runs[i].Replied, runs[i].Converted, runs[i].HandedOff
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Campaign, r.Runs, m.Sent, m.Delivered, m.Read,
			r.Replied, r.HandedOff, r.Converted, m.Fallbacks, m.Skipped)
	}
	return tw.Flush()
}
