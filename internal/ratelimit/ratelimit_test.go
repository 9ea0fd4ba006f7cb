package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// fixed is a limiter whose wall clock the test moves.
func fixed(t *testing.T, rates map[string]Rate) (*Limiter, *time.Time) {
	t.Helper()
	l := New(testenv.RedisClient(t), rates)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	return l, &now
}

func offsets(slots []Slot, now time.Time) []time.Duration {
	out := make([]time.Duration, len(slots))
	for i, s := range slots {
		out[i] = s.At.Sub(now)
		if !s.OK {
			out[i] = -out[i] - 1 // refused: negative, distinct from any slot
		}
	}
	return out
}

func TestIntervalAddsMarginPerWindow(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{1000, 1008 * time.Microsecond}, // 1,000 slots span 1.008 s
		{30, 33600 * time.Microsecond},  // 30 slots span 1.008 s
		{1, 1008 * time.Millisecond},    // one a second
		{0.5, 2008 * time.Millisecond},  // one every two seconds, 8 ms more
		{0, 0},
	} {
		if got := interval(tc.rate); got != tc.want {
			t.Errorf("interval(%v) = %v, want %v", tc.rate, got, tc.want)
		}
	}
}

// A batch to distinct chats gets the account's slots one interval apart;
// a second batch (another worker) continues where the first ended.
func TestReserveSpacesAccountSlots(t *testing.T) {
	l, now := fixed(t, map[string]Rate{"telegram": {PerSecond: 10, PerChatPerSecond: 1}})
	ctx := context.Background()
	iv := interval(10)
	s, err := l.Reserve(ctx, "telegram", "bot", []string{"1", "2", "3"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, iv, 2 * iv}
	if got := offsets(s, *now); !equal(got, want) {
		t.Fatalf("slots %v, want %v", got, want)
	}
	other := New(l.rdb, l.rates)
	other.now = l.now
	s, err = other.Reserve(ctx, "telegram", "bot", []string{"4", "5"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := offsets(s, *now), []time.Duration{3 * iv, 4 * iv}; !equal(got, want) {
		t.Fatalf("second batch %v, want %v", got, want)
	}
	// Another account of the channel has a schedule of its own.
	s, err = l.Reserve(ctx, "telegram", "bot2", []string{"1"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets(s, *now); !equal(got, []time.Duration{0}) {
		t.Fatalf("other account %v, want [0]", got)
	}
	// Time passes: an idle account saves no credit beyond its burst.
	*now = now.Add(time.Hour)
	s, err = l.Reserve(ctx, "telegram", "bot", []string{"6", "7"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets(s, *now); !equal(got, []time.Duration{0, iv}) {
		t.Fatalf("after an idle hour %v, want [0 %v]", got, iv)
	}
}

// A chat whose next slot is past the account's next one gets none and
// takes nothing: the messages after it go at the account's pace. Held (a
// manager's reply), it waits for its chat, and the account's schedule
// moves there.
func TestReserveRefusesBusyChatWithoutHoldingOthers(t *testing.T) {
	l, now := fixed(t, map[string]Rate{"telegram": {PerSecond: 100, PerChatPerSecond: 1}})
	ctx := context.Background()
	iv, civ := interval(100), interval(1)
	s, err := l.Reserve(ctx, "telegram", "bot", []string{"a", "a", "b", "a"}, 2*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, -civ - 1, iv, -civ - 1}
	if got := offsets(s, *now); !equal(got, want) {
		t.Fatalf("slots %v, want %v", got, want)
	}
	// Held, a waits for its chat's slot (c first, at the account's pace);
	// beyond the wait it is refused all the same.
	s, err = l.Reserve(ctx, "telegram", "bot", []string{"a", "c", "a"}, 1500*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := offsets(s, *now), []time.Duration{civ, 2 * iv, -2*civ - 1}; !equal(got, want) {
		t.Fatalf("held %v, want %v", got, want)
	}
	s, err = l.Reserve(ctx, "telegram", "bot", []string{"d"}, 2*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := offsets(s, *now), []time.Duration{civ + iv}; !equal(got, want) {
		t.Fatalf("after the held slot %v, want %v", got, want)
	}
}

// A per-chat budget (Viber: 100 an hour per user) is spent at once, then
// refills at its pace; the account has no limit.
func TestReserveChatBurst(t *testing.T) {
	l, now := fixed(t, map[string]Rate{"viber": {PerChatPerSecond: 3.0 / 3600, ChatBurst: 3}})
	ctx := context.Background()
	s, err := l.Reserve(ctx, "viber", "", []string{"u", "u", "u", "u", "v"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	civ := interval(3.0 / 3600)
	want := []time.Duration{0, 0, 0, -civ - 1, 0}
	if got := offsets(s, *now); !equal(got, want) {
		t.Fatalf("slots %v, want %v", got, want)
	}
	*now = now.Add(civ)
	s, err = l.Reserve(ctx, "viber", "", []string{"u", "u"}, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets(s, *now); !equal(got, []time.Duration{0, -civ - 1}) {
		t.Fatalf("after one interval %v, want one slot", got)
	}
}

// Keys expire once their schedule has passed, and an unlimited channel
// never calls Redis.
func TestReserveKeysExpireAndUnlimitedIsFree(t *testing.T) {
	l, now := fixed(t, map[string]Rate{"telegram": {PerSecond: 1, PerChatPerSecond: 1}})
	ctx := context.Background()
	if _, err := l.Reserve(ctx, "telegram", "bot", []string{"1", "2"}, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	acct, chat := Keys("telegram", "bot", "1")
	for _, k := range []string{acct, chat} {
		ttl, err := l.rdb.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > 4*time.Second {
			t.Errorf("%s ttl %v (%v), want a few seconds", k, ttl, err)
		}
	}
	calls := &testenv.RedisCalls{}
	l.rdb.AddHook(calls)
	s, err := l.Reserve(ctx, "sandbox", "", []string{"1", "1", "1"}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets(s, *now); !equal(got, []time.Duration{0, 0, 0}) {
		t.Fatalf("unlimited %v", got)
	}
	if calls.N() != 0 {
		t.Fatalf("unlimited channel made %d Redis calls", calls.N())
	}
	// A limited batch is one call (EVALSHA; EVAL only when the script was
	// not loaded yet).
	if _, err := l.Reserve(ctx, "telegram", "bot", []string{"3", "4", "5", "6"}, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	if calls.N() != 1 {
		t.Fatalf("a batch of 4 made %d Redis calls, want 1", calls.N())
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An account with a rate of its own (AccountRate) is spaced by it; the
// channel's other accounts keep the channel's rate.
func TestReserveAccountRate(t *testing.T) {
	l, now := fixed(t, map[string]Rate{"telegram": {PerSecond: 10}, AccountRate("telegram", "slow"): {PerSecond: 1}})
	ctx := context.Background()
	for acc, iv := range map[string]time.Duration{"slow": interval(1), "main": interval(10)} {
		s, err := l.Reserve(ctx, "telegram", acc, []string{"1", "2"}, time.Minute, false)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := offsets(s, *now), []time.Duration{0, iv}; !equal(got, want) {
			t.Errorf("%s: slots %v, want %v", acc, got, want)
		}
	}
}
