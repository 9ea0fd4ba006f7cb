package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestLimitConversion(t *testing.T) {
	for _, tc := range []struct {
		in     float64
		rate   int
		period time.Duration
	}{
		{30, 30, time.Second},
		{0.5, 5, 10 * time.Second},
		{1.5, 15, 10 * time.Second},
		{30 * Headroom, 294, 10 * time.Second},
	} {
		l := limit(tc.in, 0)
		if l.Rate != tc.rate || l.Period != tc.period || l.Burst != 1 {
			t.Errorf("limit(%v) = %+v, want rate %d per %v", tc.in, l, tc.rate, tc.period)
		}
	}
}

// The limiter sleeps (through the injected sleep) instead of exceeding the rate.
func TestWaitSleepsWhenBucketEmpty(t *testing.T) {
	rdb := testenv.RedisClient(t)
	l := New(rdb, map[string]Rate{"telegram": {PerSecond: 1, PerChatPerSecond: 1}})
	var slept []time.Duration
	l.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		time.Sleep(d) // the token really must come back
		return nil
	}
	ctx := context.Background()
	if err := l.Wait(ctx, "telegram", "main", "42"); err != nil {
		t.Fatal(err)
	}
	if len(slept) != 0 {
		t.Fatalf("first token slept %v", slept)
	}
	if err := l.Wait(ctx, "telegram", "main", "43"); err != nil {
		t.Fatal(err)
	}
	if len(slept) == 0 {
		t.Fatalf("second token within the same second did not wait")
	}
	// An unlimited channel never waits.
	slept = nil
	for i := 0; i < 5; i++ {
		if err := l.Wait(ctx, "sandbox", "", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if len(slept) != 0 {
		t.Fatalf("unlimited channel slept %v", slept)
	}
}
