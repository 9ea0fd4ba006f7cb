package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
)

type gaugeFunc func(time.Duration)

func (f gaugeFunc) SetSchedulerLag(d time.Duration) { f(d) }

func TestLagReporterPublishesOnTheClock(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := &Scheduler{}
	lags := make(chan time.Duration, 1)
	r := NewLagReporter(s, gaugeFunc(func(d time.Duration) { lags <- d }), clk, 5*time.Second)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	for _, lag := range []time.Duration{1500 * time.Millisecond, 0} {
		s.lagNanos.Store(int64(lag))
		clk.Advance(5 * time.Second)
		select {
		case got := <-lags:
			if got != lag {
				t.Fatalf("published %v, want %v", got, lag)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no lag published after a period")
		}
	}
}
