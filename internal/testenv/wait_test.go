package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	var polls atomic.Int32
	WaitFor(t, "the third poll", time.Minute, func() bool { return polls.Add(1) == 3 })
	if n := polls.Load(); n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

// fatalRecorder stands in for a test: Fatalf records the message and ends
// the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitForFailsAfterTheLimit(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		WaitFor(rec, "nothing", 50*time.Millisecond, func() bool { return false })
	}()
	<-done
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("gave up after %v, before the limit", took)
	}
	if !strings.Contains(rec.msg, "waiting for nothing") {
		t.Errorf("failure %q does not say what it waited for", rec.msg)
	}
}
