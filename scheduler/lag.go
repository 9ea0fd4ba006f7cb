package scheduler

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
)

// DefaultLagEvery is how often the lag reporter publishes the lag.
const DefaultLagEvery = 5 * time.Second

// LagGauge records how late the scheduler fired its last occurrence
// (metrics.Metrics).
type LagGauge interface {
	SetSchedulerLag(time.Duration)
}

// LagReporter publishes the scheduler's Lag to a gauge every period of the
// clock, between Start and Stop.
type LagReporter struct {
	s     *Scheduler
	gauge LagGauge
	clock.Loop
}

// NewLagReporter returns a reporter of s's lag to g ticking every period of
// clk (DefaultLagEvery when not positive).
func NewLagReporter(s *Scheduler, g LagGauge, clk clock.Clock, every time.Duration) *LagReporter {
	if every <= 0 {
		every = DefaultLagEvery
	}
	r := &LagReporter{s: s, gauge: g}
	// A gauge is scraped in real time: no faster on a scaled clock.
	r.Loop = clock.Loop{Clock: clk, Every: every, MinWall: every, Tick: r.tick}
	return r
}

func (r *LagReporter) tick(context.Context) { r.gauge.SetSchedulerLag(r.s.Lag()) }
