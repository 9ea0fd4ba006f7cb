package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds and fails t when limit passes first:
// how a test waits for what another goroutine or process does. The limit
// only bounds a broken test; nothing is timed by it. Polls start 5 ms apart
// and slow to 100 ms, so a long wait does not load the database a
// condition reads.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for pause := 5 * time.Millisecond; !cond(); pause = min(2*pause, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(pause)
	}
}
