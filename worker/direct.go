package worker

import (
	"context"
	"sync/atomic"
	"time"
)

// Claiming without Redis.
//
// Asynq only carries claim tasks; the claim itself (workDue) is Postgres
// alone: SELECT … FOR NO KEY UPDATE SKIP LOCKED and the work in the same
// transaction. So while Redis is unreachable the dispatcher claims due runs
// itself, with as many goroutines as the Asynq server has workers, and the
// blast goes on at its normal rate. A prober pings Redis meanwhile; each
// claimer stops before its next claim once Redis answers; the dispatcher's next pass then queues
// claims on Asynq again. Direct claims and Asynq's claims skip each other's
// locked rows, so the hand-over in either direction sends nothing twice and
// leaves no run behind.
//
// What still needs Redis waits for it: fallback checks are leased in
// Postgres and enqueued when it returns, and a rate-limited channel's token
// bucket lives in Redis, so its claims fail and are deferred (a provider's
// limit cannot be kept without the shared bucket).

// redisProbe is how often the direct claimers' prober pings Redis.
const redisProbe = 500 * time.Millisecond

// direct is the state of the dispatcher's direct claimers.
type direct struct {
	running atomic.Int32 // claimers alive
	claimed atomic.Int64 // runs claimed directly, for the log
	redisUp atomic.Bool  // the prober's last ping was answered
}

// claimDirectly starts the direct claimers unless they are running: the
// caller has just failed to queue claims on Asynq while runs are due.
func (d *Dispatcher) claimDirectly(cause error) {
	n := int32(d.e.cfg.Concurrency)
	if !d.direct.running.CompareAndSwap(0, n) {
		return
	}
	d.e.log.Warn("redis unreachable: claiming due runs directly from Postgres", "claimers", n, "error", cause)
	if m := d.e.cfg.Metrics; m != nil {
		m.DirectClaims.Set(1)
	}
	d.direct.redisUp.Store(false)
	d.wg.Add(1)
	go d.probeRedis()
	for i := int32(0); i < n; i++ {
		d.wg.Add(1)
		go d.directClaimer()
	}
}

// probeRedis pings Redis every redisProbe while direct claimers run. One
// prober rather than a ping per claim: a Redis that hangs (rather than
// refusing connections) holds a ping for the client's read timeout, which
// would stall every claimer that long.
func (d *Dispatcher) probeRedis() {
	defer d.wg.Done()
	t := time.NewTicker(redisProbe)
	defer t.Stop()
	for d.direct.running.Load() > 0 {
		if d.e.rdb.Ping(context.Background()).Err() == nil {
			d.direct.redisUp.Store(true)
			return
		}
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// directClaimer claims and works due runs until nothing is due, Redis
// answers the prober again or the dispatcher stops. A claim in progress is
// finished even when the dispatcher stops (its context is not the loop's):
// a claim cut short rolls back and would send its messages again.
func (d *Dispatcher) directClaimer() {
	defer d.wg.Done()
	defer func() {
		if d.direct.running.Add(-1) == 0 {
			// Redis back: the next pass queues claims on Asynq again. Nothing
			// due: the next pass that finds Redis still gone starts anew.
			d.e.log.Info("direct claimers stopped", "redis_up", d.direct.redisUp.Load(), "runs_claimed", d.direct.claimed.Load())
			if m := d.e.cfg.Metrics; m != nil {
				m.DirectClaims.Set(0)
			}
			d.Kick()
		}
	}()
	ctx := context.Background()
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		if d.e.draining.Load() || d.direct.redisUp.Load() {
			return
		}
		n, err := d.e.workDue(ctx)
		d.direct.claimed.Add(int64(n))
		if err != nil {
			d.e.log.Error("direct claim", "error", err)
			return
		}
		if n == 0 {
			return
		}
	}
}
