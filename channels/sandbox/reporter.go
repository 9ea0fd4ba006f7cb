package sandbox

import (
	"context"
	"log/slog"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
)

// DefaultReportEvery is how often the reporter delivers due reports and replies.
const DefaultReportEvery = 200 * time.Millisecond

// Reporter delivers the sandbox's due status reports and simulated replies
// (Sandbox.Tick) every period of the clock, between Start and Stop. A
// delivery that fails stays queued for the next tick.
type Reporter struct {
	sb  *Sandbox
	log *slog.Logger
	clock.Loop
}

// NewReporter returns a reporter for sb ticking every period of clk
// (DefaultReportEvery when not positive).
func NewReporter(sb *Sandbox, clk clock.Clock, every time.Duration, log *slog.Logger) *Reporter {
	if every <= 0 {
		every = DefaultReportEvery
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reporter{sb: sb, log: log}
	r.Loop = clock.Loop{Clock: clk, Every: every, Tick: r.tick}
	return r
}

func (r *Reporter) tick(ctx context.Context) {
	if _, err := r.sb.Tick(ctx); err != nil && ctx.Err() == nil {
		r.log.DebugContext(ctx, "sandbox report will be retried", "channel", r.sb.Kind(), "err", err)
	}
}
