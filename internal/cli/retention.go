package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/inbound"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/worker"
)

const (
	defaultRetentionRaw    = 720 * time.Hour  // 30 days of raw webhook payloads
	defaultRetentionBodies = 4320 * time.Hour // 180 days of message bodies
	retentionEvery         = 10 * time.Minute
	// retentionBatch bounds one statement, so a purge holds row locks
	// briefly and never stalls the sends that write new rows.
	retentionBatch = 1000
)

// retention purges what is kept only for a while: each owning package says
// what its purge removes; this loop says when. A period of 0 keeps the data
// until the subscriber is erased.
type retention struct {
	d      *sqlx.DB
	log    *slog.Logger
	raw    time.Duration // NUDGE_RETENTION_RAW
	bodies time.Duration // NUDGE_RETENTION_BODIES
	clock.Loop
}

type purge struct {
	what string
	keep time.Duration
	run  func(ctx context.Context, q db.Executor, before time.Time, limit int) (int64, error)
}

func newRetention(d *sqlx.DB, log *slog.Logger, clk clock.Clock, raw, bodies time.Duration) *retention {
	r := &retention{d: d, log: log, raw: raw, bodies: bodies}
	r.Loop = clock.Loop{Clock: clk, Every: retentionEvery, Tick: r.tick}
	return r
}

// tick purges each kind in batches until a batch comes back short.
func (r *retention) tick(ctx context.Context) {
	now := r.Clock.Now()
	for _, p := range []purge{
		{"raw webhook payloads", r.raw, inbound.PurgeRaw},
		{"message bodies", r.bodies, worker.PurgeBodies},
	} {
		if p.keep <= 0 {
			continue
		}
		var total int64
		for ctx.Err() == nil {
			n, err := p.run(ctx, r.d, now.Add(-p.keep), retentionBatch)
			if err != nil {
				if ctx.Err() == nil {
					r.log.WarnContext(ctx, "retention purge", "what", p.what, "err", err)
				}
				break
			}
			total += n
			if n < retentionBatch {
				break
			}
		}
		if total > 0 {
			r.log.InfoContext(ctx, "retention purged", "what", p.what, "rows", total)
		}
	}
}
