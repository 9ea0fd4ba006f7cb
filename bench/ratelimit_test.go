package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/worker"
)

// BenchmarkRateFidelity: a blast through the real Telegram adapter and its
// fake over HTTP, the fake enforcing the limit as Telegram's flood control
// does (a 429 beyond N sends in the last second, across chats, and beyond
// 1 a second per chat), the engine paced by the limiter at the same limit.
// Two limits: 1,000/s (BENCH_RATE_FAST_N messages, default 15,000) and
// 30/s (BENCH_RATE_N, default 600). Reported: achieved rate over the limit
// (first to last send the fake accepted), 429s, and the limiter's Redis
// calls per message.
func BenchmarkRateFidelity(b *testing.B) {
	if b.N > 1 {
		b.Skip("measured once")
	}
	load := testenv.LoadAverage()
	fast := rateRun(b, 1000, testenv.EnvInt("BENCH_RATE_FAST_N", 15000))
	slow := rateRun(b, 30, testenv.EnvInt("BENCH_RATE_N", 600))
	b.ReportMetric(fast.percent(), "%-of-1000/s")
	b.ReportMetric(slow.percent(), "%-of-30/s")
	b.ReportMetric(float64(fast.limited+slow.limited), "429s")
	rows := [][2]string{{"load average at start", load}}
	for _, r := range []rateResult{fast, slow} {
		rows = append(rows,
			[2]string{"rate limit (per chat 1/s)", fmt.Sprintf("%.0f msg/s", r.limit)},
			[2]string{"messages", strconv.Itoa(r.sent)},
			[2]string{"achieved", fmt.Sprintf("%.1f msg/s (%.1f%%)", r.achieved, r.percent())},
			[2]string{"provider 429s (target 0)", strconv.Itoa(r.limited)},
			[2]string{"Redis calls per message (<= 2)", fmt.Sprintf("%.3f", r.callsPerMessage())})
	}
	table(rows...)
	res := map[string]any{"load_average": load, "target_percent_1000": 97, "target_percent_30": 99}
	for _, r := range []rateResult{fast, slow} {
		res[fmt.Sprintf("limit_%.0f", r.limit)] = map[string]any{"limit_per_second": r.limit,
			"per_chat_per_second": 1, "messages": r.sent, "achieved_per_second": r.achieved,
			"achieved_percent": r.percent(), "provider_429s": r.limited,
			"redis_calls": r.calls, "redis_calls_per_message": r.callsPerMessage()}
	}
	writeResult(b, "ratelimit", res)
}

type rateResult struct {
	limit, achieved float64
	sent, limited   int
	calls           int64
}

func (r rateResult) percent() float64         { return r.achieved / r.limit * 100 }
func (r rateResult) callsPerMessage() float64 { return float64(r.calls) / float64(max(r.sent, 1)) }

// rateRun blasts n messages to n Telegram chats at limit per second.
func rateRun(b *testing.B, limit float64, n int) rateResult {
	b.Helper()
	dbURL, redisURL := testenv.DBURL(b), testenv.Redis(b)
	d := testenv.Open(b, dbURL, 10)
	seed(b, d, blastDef("paced", "telegram"), "telegram", n)
	// Telegram chats are numbers.
	if _, err := d.Exec(`UPDATE channel_identities SET address = subscriber_id::text`); err != nil {
		b.Fatal(err)
	}
	fake := telegramfake.New()
	defer fake.Close()
	fake.PerSecond, fake.PerChatPerSecond = int(limit), 1
	// The client `nudge worker` gives its adapters.
	tg := telegram.New(telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: fake.URL}}, channels.NewHTTPClient())

	ropt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		b.Fatal(err)
	}
	rdb := testenv.RedisClientAt(b, redisURL)
	calls := &testenv.RedisCalls{}
	rdb.AddHook(calls) // the limiter's own client: every call it makes is pacing
	lim := ratelimit.New(rdb, map[string]ratelimit.Rate{"telegram": {PerSecond: limit, PerChatPerSecond: 1}})
	eng, err := worker.New(worker.Config{DB: d, Redis: ropt, Senders: []channels.Sender{tg}, Handoffs: inbox.Handoffs{},
		Limiter: lim, Poll: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	disp := eng.Dispatcher(dbURL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	disp.Start()
	defer disp.Stop()
	go func() { _ = eng.Run(ctx) }()
	if _, err := d.Exec(createRuns, "paced"); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Duration(float64(n)/limit*2)*time.Second + time.Minute)
	for {
		var done int
		_ = d.Get(&done, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("paced blast not done (%d of %d)", done, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sent := fake.Sent()
	if len(sent) < 2 {
		b.Fatalf("the fake accepted %d messages", len(sent))
	}
	span := sent[len(sent)-1].At.Sub(sent[0].At)
	return rateResult{limit: limit, achieved: float64(len(sent)-1) / span.Seconds(), sent: len(sent),
		limited: fake.Calls("sendMessage") - len(sent), calls: calls.N()}
}
