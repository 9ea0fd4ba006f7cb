package worker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// t0 is a Monday, 12:00 UTC.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

type harness struct {
	t        *testing.T
	db       *sqlx.DB
	dbURL    string
	redisURL string
	redis    asynq.RedisConnOpt
	clock    *clock.Manual
	sandbox  *sandbox.Sandbox
	email    *sandbox.Sandbox
	engine   *Engine
	disp     *Dispatcher
	insp     *asynq.Inspector
	noServer bool // no Asynq server works the queue (withoutServer)
}

type option func(*harness, *Config, *sandbox.Config)

// setup starts an engine with an in-process Asynq server on a fresh database
// and Redis database, with sandbox senders for "sandbox" and "email".
func setup(t *testing.T, opts ...option) *harness {
	t.Helper()
	h := setupDB(t)
	d := h.db
	ropt, err := asynq.ParseRedisURI(h.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	h.redis = ropt
	cfg := Config{DB: d, Redis: ropt, Clock: h.clock, Lease: 2 * time.Second, Poll: time.Hour, Concurrency: 4,
		BatchSize: 50, Handoffs: inbox.Handoffs{}}
	scfg := sandbox.Config{DB: d, Now: h.clock.Now,
		Statuses: func(ctx context.Context, ev channels.Event) error { return h.engine.Statuses.Apply(ctx, ev) }}
	for _, o := range opts {
		o(h, &cfg, &scfg)
	}
	h.sandbox = sandbox.New(scfg)
	ecfg := scfg
	ecfg.Kind = channels.Email
	ecfg.Default = sandbox.Behavior{}
	h.email = sandbox.New(ecfg)
	cfg.Senders = append([]channels.Sender{h.sandbox, h.email}, cfg.Senders...)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.engine = e
	h.disp = e.Dispatcher("")
	h.insp = asynq.NewInspector(ropt)
	t.Cleanup(func() {
		h.insp.Close()
		e.Close()
	})
	if h.noServer {
		return h
	}
	srv := e.Server()
	mux := asynq.NewServeMux()
	e.Register(mux)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return h
}

// setupDB gives a fresh database and Redis database without an engine.
func setupDB(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dbURL: testenv.DBURL(t), redisURL: testenv.Redis(t), clock: clock.NewManual(t0)}
	h.db = testenv.Open(t, h.dbURL, 20)
	return h
}

func withLimiter(rates map[string]ratelimit.Rate) option {
	return func(h *harness, c *Config, _ *sandbox.Config) {
		c.Limiter = ratelimit.New(testenv.RedisClientAt(h.t, h.redisURL), rates)
	}
}

// withoutServer leaves the queue's tasks where they are, to be counted.
func withoutServer() option {
	return func(h *harness, _ *Config, _ *sandbox.Config) { h.noServer = true }
}

func withSandbox(b sandbox.Behavior) option {
	return func(_ *harness, _ *Config, s *sandbox.Config) { s.Default = b }
}

func (h *harness) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.db.Exec(q, args...); err != nil {
		h.t.Fatalf("%s: %v", strings.TrimSpace(q), err)
	}
}

func (h *harness) count(q string, args ...any) int {
	h.t.Helper()
	return testenv.Count(h.t, context.Background(), h.db, q, args...)
}

// wantCount fails the test unless q counts want; what names the number.
func (h *harness) wantCount(what string, want int, q string, args ...any) {
	h.t.Helper()
	testenv.WantCount(h.t, context.Background(), h.db, what, want, q, args...)
}

// claimAside starts a claim in its own goroutine, as a worker would; the
// test cancels it to end the claim (a worker dying or shutting down) and
// reads what the claim returned on done.
func (h *harness) claimAside() (cancel context.CancelFunc, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() {
		_, err := h.engine.workDue(ctx)
		ended <- err
	}()
	return cancel, ended
}

// campaign stores def as version "v1" of def.ID.
func (h *harness) campaign(def campaigns.Definition) string {
	h.t.Helper()
	b, err := json.Marshal(def)
	if err != nil {
		h.t.Fatal(err)
	}
	h.exec(`INSERT INTO campaigns (id, current_version) VALUES ($1, 'v1')`, def.ID)
	h.exec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ($1, 'v1', 1, $2, '')`, def.ID, b)
	return "v1"
}

// subscribers creates n subscribers in zone tz with a sandbox and an email
// identity each and consent for every channel and topic.
func (h *harness) subscribers(n int, tz string) []int64 {
	h.t.Helper()
	var ids []int64
	if err := h.db.Select(&ids, `
INSERT INTO subscribers (external_id, name, time_zone, locale)
SELECT 'c' || g || '-' || md5(random()::text), 'Анна ' || g, $2, 'ru' FROM generate_series(1, $1) g RETURNING id`, n, tz); err != nil {
		h.t.Fatal(err)
	}
	h.exec(`INSERT INTO channel_identities (subscriber_id, channel, address)
SELECT id, 'sandbox', 'sb' || id FROM unnest($1::bigint[]) id
UNION ALL SELECT id, 'email', 'u' || id || '@example.com' FROM unnest($1::bigint[]) id`, pq.Array(ids))
	h.exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source)
SELECT id, '*', t, true, 'import' FROM unnest($1::bigint[]) id, unnest(ARRAY['service', 'marketing']) t`, pq.Array(ids))
	return ids
}

// start creates one run per subscriber at the first step, due at `at`.
func (h *harness) start(campaignID, version string, subs []int64, at time.Time) {
	h.t.Helper()
	h.exec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, step_id, next_at)
SELECT $1, $2, s, 'test', '', $4 FROM unnest($3::bigint[]) s`, campaignID, version, pq.Array(subs), at)
}

// blast starts campaign id, one send step (sendDef), for n new subscribers
// in UTC with their runs due at at, and returns the subscribers.
func (h *harness) blast(id string, n int, at time.Time) []int64 {
	h.t.Helper()
	_, subs := h.blastDef(sendDef(id), n, "UTC", at)
	return subs
}

// blastDef is blast of campaign def for subscribers in zone; it returns the
// campaign's version too.
func (h *harness) blastDef(def campaigns.Definition, n int, zone string, at time.Time) (version string, subs []int64) {
	h.t.Helper()
	version = h.campaign(def)
	subs = h.subscribers(n, zone)
	h.start(def.ID, version, subs, at)
	return version, subs
}

// settle dispatches and waits until nothing is due and the queue is empty.
func (h *harness) settle() {
	h.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	idle := 0
	for time.Now().Before(deadline) {
		n, err := h.disp.Pass(ctx)
		if err != nil {
			h.t.Fatalf("dispatcher: %v", err)
		}
		busy := h.queueBusy()
		if n == 0 && !busy {
			idle++
			if idle >= 2 {
				return
			}
		} else {
			idle = 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("work did not settle in 2 minutes")
}

func (h *harness) queueBusy() bool {
	qi, err := h.insp.GetQueueInfo(Queue)
	if err != nil {
		return false // queue not created yet
	}
	return qi.Pending+qi.Active+qi.Scheduled+qi.Retry > 0
}

// leasedRuns counts runs still holding a dispatch lease (work not finished).
func (h *harness) unfinished() int {
	return h.count(`SELECT count(*) FROM flow_runs WHERE state IN ('active','waiting') AND next_at <= $1`, h.clock.Now())
}

func sendDef(id string, steps ...campaigns.Step) campaigns.Definition {
	d := campaigns.Definition{
		ID: id, Name: id, Topic: campaigns.TopicMarketing,
		Settings: campaigns.Settings{Channels: []string{"sandbox"}},
		Templates: map[string]campaigns.Template{
			"hello": {
				"default": {"ru": {Text: "Привет, {{.Subscriber.Name}}!"}, "en": {Text: "Hi, {{.Subscriber.Name}}!"}},
				"email":   {"ru": {Subject: "Меню недели", Text: "Привет, {{.Subscriber.Name}}!"}},
			},
			"ask":    {"default": {"ru": {Text: "Понравилась еда?", Buttons: []campaigns.Button{{ID: "yes", Text: "Да"}, {ID: "no", Text: "Нет"}}}}},
			"thanks": {"default": {"ru": {Text: "Спасибо!"}}},
			"sorry":  {"default": {"ru": {Text: "Нам жаль"}}},
			"remind": {"default": {"ru": {Text: "Напоминаем"}}},
		},
	}
	if len(steps) == 0 {
		steps = []campaigns.Step{{ID: "hello", Send: &campaigns.SendStep{Template: "hello"}}, {ID: "end", End: &campaigns.EndStep{}}}
	}
	d.Steps = steps
	return d
}

// emailRung is the fallback ladder most tests use: email when the send is
// not delivered within an hour.
func emailRung() []campaigns.FallbackRung {
	return []campaigns.FallbackRung{{Channel: "email", IfNot: "delivered", Within: dur("1h")}}
}

func dur(s string) campaigns.Duration {
	d, err := campaigns.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// optOutWhileSending opts out subs[len-1], subs[len-1-every], … from another
// goroutine after wait, pausing between opt-outs, while the engine settles
// the blast already started; it returns when both are done, with the longest
// an opt-out took to commit. Each opt-out is what a consent writer does
// (consent.Ledger: the subscriber's lock, then the revocation).
func (h *harness) optOutWhileSending(subs []int64, every int, wait, pause time.Duration) (longest time.Duration) {
	h.t.Helper()
	ledger := consent.NewLedger()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(wait)
		for i := len(subs) - 1; i >= 0; i -= every {
			start := time.Now()
			err := ledger.Revoke(context.Background(), h.db, consent.Change{SubscriberID: subs[i], Channel: consent.AllChannels,
				Topic: consent.TopicMarketing, Source: consent.SourceDialog})
			if err != nil {
				h.t.Error(err)
				return
			}
			longest = max(longest, time.Since(start))
			time.Sleep(pause)
		}
	}()
	h.settle()
	<-done
	h.settle()
	// A message that yielded to an opt-out in progress was recorded pending
	// and its run put off by optOutYield on the engine's clock.
	h.clock.Advance(optOutYield)
	h.settle()
	return longest
}

// sendsAfterOptOut counts the sandbox sends recorded after their
// subscriber's opt-out committed: the rule is that there are none.
func (h *harness) sendsAfterOptOut() int {
	h.t.Helper()
	return h.count(`
SELECT count(*) FROM sandbox_sends s
  JOIN channel_identities ci ON ci.channel = 'sandbox' AND ci.address = s.address
  JOIN consent_events ce ON ce.subscriber_id = ci.subscriber_id AND NOT ce.granted
 WHERE s.created_at > ce.created_at`)
}
