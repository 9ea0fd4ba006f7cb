package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate is a provider's limit. Zero rates mean unlimited.
type Rate struct {
	PerSecond        float64 // per channel account
	PerChatPerSecond float64 // per recipient chat
	Burst            int     // account slots that may fall at once (default 1)
	// ChatBurst is the per-chat budget that may be spent at once (default 1):
	// Viber's "100 messages per user per hour without a reply" is a budget,
	// not a pace of one message every 36 seconds.
	ChatBurst int
}

// Margin is added to every window of the provider's limit: N slots of an
// N-per-second limit span 1s+Margin. Sends leave at their slot but reach the
// provider with network and scheduling jitter; a send that is late by less
// than Margin cannot make the provider's window see one too many. A fixed
// time rather than a share of the rate, so it costs 0.8% at 30/s and at
// 1,000/s alike (a 2% share cost 2% everywhere). On the 2-core bench box at
// load 9, sends left their slot late by 0.5 ms (median), 2-4 ms (p99) and
// 5-13 ms (p99.9): see docs/performance.md.
const Margin = 8 * time.Millisecond

// interval is the spacing of slots at perSecond: N slots span 1s+Margin
// for a rate of N a second, and one slot is 1/rate+Margin apart below one
// a second.
func interval(perSecond float64) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second)/perSecond + float64(Margin)/math.Max(perSecond, 1))
}

// Slot is one message's place in its account's and chat's schedule.
type Slot struct {
	// OK is true when the slot is reserved: send at At. When false the
	// next free slot was beyond the caller's wait: nothing was reserved, and
	// At is when that slot would have fallen (retry around then).
	OK bool
	At time.Time
}

//go:embed reserve.lua
var reserveSrc string

var reserveScript = redis.NewScript(reserveSrc)

// Limiter reserves send slots in Redis, shared by every worker process.
type Limiter struct {
	rdb   redis.UniversalClient
	rates map[string]Rate // by channel, and by AccountRate(channel, account)
	// now is wall time, not the engine's clock: providers count real
	// seconds, so slots are on real seconds even when the engine's flow
	// clock runs fast (demo) or stands still (tests). Tests of the script
	// set it.
	now func() time.Time
}

// AccountRate is the key of rates that gives one account of a channel its
// own rate; the channel's key ("telegram") is the rate of the others.
func AccountRate(channel, account string) string { return channel + "/" + account }

// New returns a limiter over rdb with a Rate per channel name (and per
// AccountRate where an account has its own).
func New(rdb redis.UniversalClient, rates map[string]Rate) *Limiter {
	return &Limiter{rdb: rdb, rates: rates, now: time.Now}
}

// Limited reports whether channel has a rate (senders of an unlimited
// channel may be called in batches).
func (l *Limiter) Limited(channel string) bool {
	if l == nil {
		return false
	}
	r, ok := l.rates[channel]
	return ok && (r.PerSecond > 0 || r.PerChatPerSecond > 0)
}

// Rate returns channel's rate (zero when it has none).
func (l *Limiter) Rate(channel string) Rate {
	if l == nil {
		return Rate{}
	}
	return l.rates[channel]
}

// Keys returns the Redis keys of an account and of one chat of it. They
// share the hash tag {nudge:rl:channel:account}, so one script call may
// touch all of them on Redis Cluster.
func Keys(channel, account, chat string) (accountKey, chatKey string) {
	tag := fmt.Sprintf("{nudge:rl:%s:%s}", channel, account)
	return tag, tag + ":chat:" + chat
}

// Reserve reserves a slot for each of a batch of messages of channel's
// account, one per chat in chats (in order; a chat may repeat), in one
// Redis call. A message gets no slot (OK false) and takes nothing from the
// account or its chat when its slot would fall later than maxWait from now,
// or, unless hold, when it would wait for its chat past the account's next
// free slot: its account slot would leave the account idle for every other
// chat until then. Later messages of the batch are not held up by it.
// hold is for a lone message a person waits for (a manager's reply).
// Slots of an unlimited channel are all now.
func (l *Limiter) Reserve(ctx context.Context, channel, account string, chats []string, maxWait time.Duration, hold bool) ([]Slot, error) {
	now := time.Now()
	if l != nil {
		now = l.now()
	}
	out := make([]Slot, len(chats))
	if !l.Limited(channel) {
		for i := range out {
			out[i] = Slot{OK: true, At: now}
		}
		return out, nil
	}
	if len(chats) == 0 {
		return out, nil
	}
	r, own := l.rates[AccountRate(channel, account)]
	if !own {
		r = l.rates[channel]
	}
	ai, ci := interval(r.PerSecond), interval(r.PerChatPerSecond)
	acct, _ := Keys(channel, account, "")
	keys := []string{acct}
	if ci > 0 {
		for _, c := range chats {
			_, k := Keys(channel, account, c)
			keys = append(keys, k)
		}
	}
	us := func(d time.Duration) int64 { return d.Microseconds() }
	args := []any{now.UnixMicro(), us(ai), us(ai) * int64(max(r.Burst, 1)-1),
		us(ci), us(ci) * int64(max(r.ChatBurst, 1)-1), us(maxWait), len(chats), 0}
	if hold {
		args[len(args)-1] = 1
	}
	res, err := reserveScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("rate limit %s: %w", acct, err)
	}
	if len(res) != len(chats) {
		return nil, fmt.Errorf("rate limit %s: %d slots for %d messages", acct, len(res), len(chats))
	}
	for i, v := range res {
		if v >= 0 {
			out[i] = Slot{OK: true, At: time.UnixMicro(v)}
		} else {
			out[i] = Slot{At: time.UnixMicro(-v)}
		}
	}
	return out, nil
}
