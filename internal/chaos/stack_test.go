package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// Worker settings of every scenario: the duplicate bound of a fault is
// counted in claims of this size (concurrency × batch per worker).
const (
	concurrency = 4
	batch       = 100
)

// stack is one scenario's deployment: a database (on the shared server or a
// private one), a private redis-server, the nudge processes and the
// provider's call log.
type stack struct {
	t       *testing.T
	n       int
	d       *sqlx.DB
	dbURL   string
	pg      *testenv.PostgresProc // nil: the shared server
	redis   *testenv.RedisProc
	delay   time.Duration // the sandbox's latency per message
	workers []*testenv.NudgeProc
	subs    []int64
	// channel is the campaign's: the sandbox, or Telegram through its fake
	// (tg) in this process; prefix makes a subscriber id its address.
	channel channels.Kind
	prefix  string
	tg      *telegramfake.Server
	// syncCalls brings the calls table up to date (Telegram's copier).
	syncCalls func()
}

func newStack(t *testing.T, n int, privatePG bool, delay time.Duration, channel channels.Kind) *stack {
	t.Helper()
	s := &stack{t: t, n: n, delay: delay, channel: channel, prefix: "sb"}
	if privatePG {
		s.pg = testenv.StartPostgres(t)
		s.dbURL = s.pg.MigratedDB("nudge_chaos")
	} else {
		s.dbURL = testenv.DBURL(t)
	}
	s.redis = testenv.StartRedisServer(t)
	s.d = testenv.Open(t, s.dbURL, 8)
	s.countProviderCalls()
	if channel == channels.Telegram {
		s.prefix = "" // chat ids: the subscriber ids themselves
		s.tg = telegramfake.New()
		t.Cleanup(s.tg.Close)
		s.copyTelegramSends()
	}
	return s
}

// copyTelegramSends copies every message the Telegram fake accepts into
// the calls table, so one log serves both providers. The fake records each
// sendMessage it accepts, a repeat included: Telegram has no idempotency
// key, so the key of a call is its chat (one message per chat here).
func (s *stack) copyTelegramSends() {
	copied := 0
	var mu sync.Mutex
	flush := func() {
		mu.Lock()
		defer mu.Unlock()
		sent := s.tg.Sent()
		if len(sent) == copied {
			return
		}
		var chats, ats []string
		for _, m := range sent[copied:] {
			chats = append(chats, strconv.FormatInt(m.ChatID, 10))
			ats = append(ats, m.At.Format(time.RFC3339Nano))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.d.ExecContext(ctx, `INSERT INTO chaos_provider_calls (idempotency_key, address, at)
SELECT c, c, a::timestamptz FROM unnest($1::text[], $2::text[]) u(c, a)`, pq.Array(chats), pq.Array(ats)); err == nil {
			copied = len(sent)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				flush()
			}
		}
	}()
	s.syncCalls = flush
	s.t.Cleanup(func() { close(stop); <-done })
}

// env is the configuration of every nudge process of the stack.
func (s *stack) env(extra ...string) map[string]string {
	env := map[string]string{
		"NUDGE_DATABASE_URL": s.dbURL, "NUDGE_REDIS_URL": "redis://" + s.redis.Addr + "/0",
		"NUDGE_WORKER_LEASE": "3s", "NUDGE_WORKER_POLL": "200ms",
		"NUDGE_WORKER_BATCH": strconv.Itoa(batch), "NUDGE_WORKER_CONCURRENCY": strconv.Itoa(concurrency),
		"NUDGE_SANDBOX_DELAY": s.delay.String(), "NUDGE_DB_MAX_CONNS": "12", "NUDGE_LOG_LEVEL": "warn",
		"NUDGE_SCHEDULER_INTERVAL": "100ms", "NUDGE_SCHEDULER_LEADER_RETRY": "200ms",
	}
	if s.tg != nil {
		env["NUDGE_TELEGRAM_TOKEN"], env["NUDGE_TELEGRAM_API_URL"] = s.tg.Token, s.tg.URL
		env["NUDGE_TELEGRAM_WEBHOOK_SECRET"] = "chaos-secret"
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

// startWorker starts one more `nudge worker`.
func (s *stack) startWorker() *testenv.NudgeProc {
	s.t.Helper()
	w := testenv.StartNudge(s.t, fmt.Sprintf("nudge worker %d", len(s.workers)+1), s.env(), "worker")
	s.workers = append(s.workers, w)
	return w
}

// stopWorkers stops every worker still running with SIGTERM: each must exit
// cleanly.
func (s *stack) stopWorkers() {
	s.t.Helper()
	for _, w := range s.workers {
		if !w.Exited() {
			w.Stop(30 * time.Second)
		}
	}
}

func (s *stack) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.d.Exec(q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

// count runs a count query; it returns -1 while the database does not
// answer (a Postgres restart), so waits can poll through one.
func (s *stack) count(q string, args ...any) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	if err := s.d.GetContext(ctx, &n, q, args...); err != nil {
		return -1
	}
	return n
}

// calls is how many messages were handed to the provider so far.
func (s *stack) calls() int { return s.count(`SELECT count(*) FROM chaos_provider_calls`) }

// finished reports whether every subscriber's run has ended.
func (s *stack) finished() bool {
	return s.count(`SELECT count(*) FROM flow_runs WHERE state NOT IN ('active', 'waiting')`) == s.n
}

// waitFor polls cond every 50ms; the deadline only bounds a broken run.
func (s *stack) waitFor(what string, limit time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %v waiting for %s (%d provider calls, %d runs unfinished)", limit, what,
				s.calls(), s.count(`SELECT count(*) FROM flow_runs WHERE state IN ('active', 'waiting')`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countProviderCalls records every message handed to the sandbox, a repeat
// its unique idempotency key then absorbs included (a BEFORE INSERT trigger
// fires for each proposed row, conflict or not): the calls a provider
// without deduplication would deliver. The sandbox inserts on its own
// connection, outside the claim's transaction, so a crash after the call
// keeps the record, as a real provider keeps the message.
func (s *stack) countProviderCalls() {
	s.t.Helper()
	s.exec(`CREATE TABLE chaos_provider_calls (
	idempotency_key text NOT NULL,
	address text NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp())`)
	s.exec(`CREATE INDEX chaos_provider_calls_address ON chaos_provider_calls (address)`)
	s.exec(`CREATE FUNCTION chaos_count_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO chaos_provider_calls (idempotency_key, address) VALUES (NEW.idempotency_key, NEW.address);
	RETURN NEW;
END $$`)
	s.exec(`CREATE TRIGGER chaos_count_call BEFORE INSERT ON sandbox_sends FOR EACH ROW EXECUTE FUNCTION chaos_count_call()`)
}

// address is subscriber id's address on the stack's channel.
func (s *stack) address(id int64) string { return s.prefix + strconv.FormatInt(id, 10) }

// campaign stores the one-message campaign (marketing, the stack's channel) as
// version v1; event names the event that starts it ("" = runs are inserted
// by the test).
func (s *stack) campaign(event string) {
	s.t.Helper()
	def := campaigns.Definition{
		ID: "chaos", Name: "chaos", Topic: campaigns.TopicMarketing,
		Settings: campaigns.Settings{Channels: []string{string(s.channel)}},
		Templates: map[string]campaigns.Template{
			"hello": {"default": {"ru": {Text: "Привет, {{.Subscriber.Name}}! Меню недели готово."}}},
		},
		Steps: []campaigns.Step{{ID: "hello", Send: &campaigns.SendStep{Template: "hello"}}, {ID: "end", End: &campaigns.EndStep{}}},
	}
	if event != "" {
		def.Trigger.Event = &campaigns.EventTrigger{Name: event}
	}
	b, err := json.Marshal(def)
	if err != nil {
		s.t.Fatal(err)
	}
	s.exec(`INSERT INTO campaigns (id, current_version) VALUES ('chaos', 'v1')`)
	s.exec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('chaos', 'v1', 1, $1, '')`, b)
}

// subscribers creates the n subscribers, each with an identity on the
// stack's channel and consent for every topic.
func (s *stack) subscribers() {
	s.t.Helper()
	if err := s.d.Select(&s.subs, `
INSERT INTO subscribers (external_id, name, time_zone, locale)
SELECT 'chaos-' || g, 'Анна ' || g, 'UTC', 'ru' FROM generate_series(1, $1) g RETURNING id`, s.n); err != nil {
		s.t.Fatal(err)
	}
	s.exec(`INSERT INTO channel_identities (subscriber_id, channel, address)
SELECT id, $2, $3 || id FROM unnest($1::bigint[]) id`, pq.Array(s.subs), string(s.channel), s.prefix)
	s.exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source)
SELECT id, '*', t, true, 'import' FROM unnest($1::bigint[]) id, unnest(ARRAY['service', 'marketing']) t`, pq.Array(s.subs))
}

// runs starts one run per subscriber, due a minute ago.
func (s *stack) runs() {
	s.t.Helper()
	s.exec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, step_id, next_at)
SELECT 'chaos', 'v1', id, 'blast', '', $2 FROM unnest($1::bigint[]) id`, pq.Array(s.subs), time.Now().Add(-time.Minute))
}
