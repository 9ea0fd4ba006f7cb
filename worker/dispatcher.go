package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// Dispatcher keeps claim tasks on the queue while runs are due, and leases
// due fallback checks. It is also the reconciler: after Redis lost the queue
// (FLUSHALL, restart) its next pass finds the runs still due in Postgres and
// enqueues claims for them.
type Dispatcher struct {
	e     *Engine
	dbURL string
	kick  chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup

	insp   *asynq.Inspector
	direct direct // claimers working without Redis (direct.go)
	// emptySeen is the engine's count of empty claims at the last pass;
	// kicked is set by Kick and taken by the next pass.
	emptySeen atomic.Int64
	kicked    atomic.Bool
}

// Dispatcher returns the engine's dispatcher. dbURL enables LISTEN nudge_due
// and nudge_runs (replies, new runs wake it at once); "" polls only.
func (e *Engine) Dispatcher(dbURL string) *Dispatcher {
	d := &Dispatcher{e: e, dbURL: dbURL, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		insp: asynq.NewInspector(e.cfg.Redis)}
	e.cfg.Metrics.OnScrape(d.queueDepth)
	return d
}

// Kick asks for a pass now.
func (d *Dispatcher) Kick() {
	d.kicked.Store(true)
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Start runs the loop until Stop.
func (d *Dispatcher) Start() {
	d.wg.Add(1)
	go d.loop()
	if d.dbURL != "" {
		d.wg.Add(1)
		go d.listen()
	}
}

// Stop ends the loop and waits for it.
func (d *Dispatcher) Stop() {
	close(d.stop)
	d.wg.Wait()
	d.insp.Close()
}

// queueDepth refreshes the queue and due-run gauges when /metrics is
// scraped (metrics.OnScrape, at most every metrics.ScrapeRefresh): the
// inspector's queue info samples memory usage, and counting due runs reads
// them, so no process does either unless someone looks.
func (d *Dispatcher) queueDepth(ctx context.Context) {
	var due int
	if err := d.e.db.GetContext(ctx, &due, qCountDue, d.e.clock.Now(), dueGaugeCap); err == nil {
		d.e.cfg.Metrics.DueRuns.Set(float64(due))
	}
	qi, err := d.insp.GetQueueInfo(Queue)
	if err != nil {
		return // the queue does not exist before its first task
	}
	m := d.e.cfg.Metrics
	m.SetQueueDepth(Queue, "pending", qi.Pending)
	m.SetQueueDepth(Queue, "active", qi.Active)
	m.SetQueueDepth(Queue, "scheduled", qi.Scheduled)
	m.SetQueueDepth(Queue, "retry", qi.Retry)
	m.SetQueueDepth(Queue, "archived", qi.Archived)
}

func (d *Dispatcher) listen() {
	defer d.wg.Done()
	l := pq.NewListener(d.dbURL, time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			d.e.log.Warn("dispatcher listener", "error", err)
		}
	})
	defer l.Close()
	// nudge_due: runs made due by another process (replies, resolved
	// hand-offs); nudge_runs: the scheduler's new runs.
	for _, ch := range []string{"nudge_due", "nudge_runs"} {
		if err := l.Listen(ch); err != nil {
			d.e.log.Warn("dispatcher: LISTEN failed; polling only", "channel", ch, "error", err)
			return
		}
	}
	for {
		select {
		case <-d.stop:
			return
		case <-l.Notify:
			d.Kick()
		case <-time.After(time.Minute):
			go l.Ping()
		}
	}
}

func (d *Dispatcher) loop() {
	defer d.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-d.stop; cancel() }()
	t := time.NewTicker(d.e.cfg.Poll)
	defer t.Stop()
	for {
		n, err := d.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			d.e.log.Error("dispatcher pass", "error", err)
		}
		wait := (<-chan time.Time)(t.C)
		if n > 0 { // a backlog: look again soon, claims may need company
			wait = time.After(100 * time.Millisecond)
		}
		select {
		case <-d.stop:
			return
		case <-wait:
		case <-d.kick:
		}
	}
}

// Pass makes sure claims are queued while runs are due and leases due
// fallback checks. It returns 1 when runs are due, plus the checks leased.
func (d *Dispatcher) Pass(ctx context.Context) (int, error) {
	e := d.e
	now := e.clock.Now()
	// Whether anything is due, not how much: counting thousands of due runs
	// on every pass cost more than the claims it sized. Claims that come
	// back full ask for companions themselves.
	var due bool
	if err := e.db.GetContext(ctx, &due, qDueExists, now); err != nil {
		return 0, fmt.Errorf("due runs: %w", err)
	}
	var errs []error
	n := 0
	// A claim of this process that found nothing since the last pass
	// began saw every due run held by claims under way; those work them
	// and ask for companions while they come back full. Claims queued now
	// would find nothing as well (at the end of a blast idle claimers read
	// the work index 40 times a second for nothing), so this pass only
	// looks again soon, unless the dispatcher was kicked since the last
	// pass (the scheduler's new runs and replies notify): runs committed
	// after that claim are nobody's.
	empties, kicked := e.emptyClaims.Load(), d.kicked.Swap(false)
	held := d.emptySeen.Swap(empties) != empties && !kicked
	// While direct claimers run (Redis was unreachable) they watch for its
	// return themselves; asking Redis here as well would only add errors.
	if due && d.direct.running.Load() == 0 {
		n = 1
		if !held {
			if err := e.ensureClaims(ctx, e.cfg.Concurrency); err != nil {
				// The runs are in Postgres: claim them here, without the
				// queue (claimDirectly logs the cause once).
				d.claimDirectly(err)
			}
		}
	}
	var fb []int64
	if err := e.db.SelectContext(ctx, &fb, qLeaseFallbacks, now, e.cfg.Lease.Seconds(), e.cfg.Concurrency*e.cfg.BatchSize); err != nil {
		errs = append(errs, fmt.Errorf("lease fallbacks: %w", err))
	}
	for start := 0; start < len(fb); start += e.cfg.BatchSize {
		b := fb[start:min(start+e.cfg.BatchSize, len(fb))]
		payload, _ := json.Marshal(fallbackPayload{IDs: b})
		id := fmt.Sprintf("fallback:%d:%d:%d", b[0], b[len(b)-1], len(b))
		if err := e.enqueue(ctx, asynq.NewTask(TypeFallback, payload), id); err != nil {
			errs = append(errs, err)
		}
	}
	return n + len(fb), errors.Join(errs...)
}

// dueGaugeCap bounds the due-run count of the metrics gauge.
const dueGaugeCap = 100_000

// claimSeq numbers claim tasks within a process.
var claimSeq atomic.Int64

// claimPrefix keeps claim task ids of different processes apart.
var claimPrefix = strconv.FormatInt(time.Now().UnixNano(), 36)

// ensureClaims enqueues claim tasks until `want` are waiting on the queue.
// A claim task that has not started yet will see every run committed before
// it starts, so one waiting claim is enough to never lose a wake-up.
func (e *Engine) ensureClaims(ctx context.Context, want int) error {
	waiting, err := e.rdb.LLen(ctx, pendingKey).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("queue length: %w", err)
	}
	for i := int(waiting); i < want; i++ {
		id := "claim:" + claimPrefix + ":" + strconv.FormatInt(claimSeq.Add(1), 36)
		if err := e.enqueue(ctx, asynq.NewTask(TypeClaim, nil), id); err != nil {
			return err
		}
	}
	return nil
}

// Wake asks for a claim after the caller committed runs that are due now
// (a reply, a resolved hand-off). Calls are cheap and may be repeated.
func (e *Engine) Wake(ctx context.Context) {
	if err := e.ensureClaims(ctx, 1); err != nil {
		e.log.WarnContext(ctx, "wake workers", "error", err)
	}
}

func (e *Engine) enqueue(ctx context.Context, t *asynq.Task, id string) error {
	_, err := e.client.EnqueueContext(ctx, t, asynq.TaskID(id), asynq.Queue(Queue),
		asynq.MaxRetry(maxRetry), asynq.Timeout(taskTimeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", id, err)
	}
	return nil
}
