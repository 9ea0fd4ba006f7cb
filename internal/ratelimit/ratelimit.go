// Package ratelimit takes send tokens from buckets in Redis, shared by every
// worker process: one per channel account, and one per chat where the provider
// limits per chat (Telegram: 1 msg/s per chat). It uses go-redis/redis_rate
// (GCRA in one Lua script, well kept and used widely) rather than our own script.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Rate is a provider's limit. Zero fields mean unlimited. The limiter paces
// at Headroom (98%) of it: sends leave Redis-timed slots but reach the
// provider with network and scheduling jitter, and the margin keeps a
// provider's own window from seeing one too many.
type Rate struct {
	PerSecond        float64 // per channel account
	PerChatPerSecond float64 // per recipient chat
	Burst            int     // tokens that may be taken at once (default 1)
	// ChatBurst is the per-chat budget that may be spent at once (default 1):
	// Viber's "100 messages per user per hour without a reply" is a budget,
	// not a pace of one message every 36 seconds.
	ChatBurst int
}

// Headroom is the share of a provider's limit the limiter uses.
const Headroom = 0.98

// Limiter waits for tokens.
type Limiter struct {
	l     *redis_rate.Limiter
	rates map[string]Rate // by channel
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a limiter over rdb with a Rate per channel name.
func New(rdb redis.UniversalClient, rates map[string]Rate) *Limiter {
	return &Limiter{l: redis_rate.NewLimiter(rdb), rates: rates, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// limit converts a per-second rate (possibly fractional) to a redis_rate limit.
func limit(perSecond float64, burst int) redis_rate.Limit {
	if burst < 1 {
		burst = 1
	}
	// redis_rate wants an integer rate per period: use a period that makes it whole.
	period := time.Second
	rate := perSecond
	for i := 0; i < 4 && (rate < 1 || math.Abs(rate-math.Round(rate)) > 1e-6); i++ {
		period *= 10
		rate *= 10
	}
	return redis_rate.Limit{Rate: int(math.Round(rate)), Burst: burst, Period: period}
}

// Wait blocks until a token for channel/account (and for the chat when the
// channel limits per chat) is available, or ctx ends.
func (l *Limiter) Wait(ctx context.Context, channel, account, chat string) error {
	if l == nil {
		return nil
	}
	r, ok := l.rates[channel]
	if !ok {
		return nil
	}
	if r.PerChatPerSecond > 0 && chat != "" {
		if err := l.take(ctx, fmt.Sprintf("nudge:rl:%s:%s:chat:%s", channel, account, chat), limit(r.PerChatPerSecond*Headroom, r.ChatBurst)); err != nil {
			return err
		}
	}
	if r.PerSecond > 0 {
		return l.take(ctx, fmt.Sprintf("nudge:rl:%s:%s", channel, account), limit(r.PerSecond*Headroom, r.Burst))
	}
	return nil
}

func (l *Limiter) take(ctx context.Context, key string, lim redis_rate.Limit) error {
	for {
		res, err := l.l.Allow(ctx, key, lim)
		if err != nil {
			return fmt.Errorf("rate limit %s: %w", key, err)
		}
		if res.Allowed > 0 {
			return nil
		}
		// Wake a little early: a late retry loses its slot for good, an early
		// one costs one more round trip.
		wait := res.RetryAfter - time.Millisecond
		if wait < 0 {
			wait = 0
		}
		if err := l.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Limited reports whether channel has an account-wide rate (senders of an
// unlimited channel may be called in batches).
func (l *Limiter) Limited(channel string) bool {
	if l == nil {
		return false
	}
	r, ok := l.rates[channel]
	return ok && (r.PerSecond > 0 || r.PerChatPerSecond > 0)
}
