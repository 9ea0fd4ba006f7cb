package inbound

import (
	"context"
	"log/slog"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
)

// DefaultReconcileEvery is how often the reconciler looks for stored events
// whose processing failed.
const DefaultReconcileEvery = 5 * time.Second

// reconcileBatch bounds one pass, so a backlog is worked off over several ticks.
const reconcileBatch = 500

// Reconciler retries stored events that were not processed (a crash, a route
// error) every period of the clock, between Start and Stop; on a scaled clock
// not more often than every period of wall time.
type Reconciler struct {
	sink *Sink
	log  *slog.Logger
	clock.Loop
}

// NewReconciler returns a reconciler for sink ticking every period of clk
// (DefaultReconcileEvery when not positive).
func NewReconciler(sink *Sink, clk clock.Clock, every time.Duration) *Reconciler {
	if every <= 0 {
		every = DefaultReconcileEvery
	}
	r := &Reconciler{sink: sink, log: sink.log}
	// Claims are leases on real processing: on a scaled clock they last
	// milliseconds of wall time, and a reconciler ticking at flow speed would
	// take over events still being processed. It keeps a real-time pace.
	r.Loop = clock.Loop{Clock: clk, Every: every, MinWall: every, Tick: r.tick}
	return r
}

func (r *Reconciler) tick(ctx context.Context) {
	if _, err := r.sink.Reconcile(ctx, reconcileBatch); err != nil && ctx.Err() == nil {
		r.log.WarnContext(ctx, "inbound reconcile", "err", err)
	}
}
