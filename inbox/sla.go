package inbox

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
)

// DefaultSLAEvery is how often the flagger looks for conversations past
// their SLA.
const DefaultSLAEvery = time.Minute

// SLAFlagger flags conversations waiting longer than the service's SLA for a
// first manager response (Service.FlagOverdue) every period of the clock,
// between Start and Stop.
type SLAFlagger struct {
	svc *Service
	clock.Loop
}

// NewSLAFlagger returns a flagger for svc ticking every period of clk
// (DefaultSLAEvery when not positive).
func NewSLAFlagger(svc *Service, clk clock.Clock, every time.Duration) *SLAFlagger {
	if every <= 0 {
		every = DefaultSLAEvery
	}
	f := &SLAFlagger{svc: svc}
	f.Loop = clock.Loop{Clock: clk, Every: every, Tick: f.tick}
	return f
}

func (f *SLAFlagger) tick(ctx context.Context) {
	ids, err := f.svc.FlagOverdue(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		f.svc.log.WarnContext(ctx, "inbox SLA", "err", err)
	case len(ids) > 0:
		f.svc.log.WarnContext(ctx, "conversations past their SLA", "count", len(ids))
	}
}
