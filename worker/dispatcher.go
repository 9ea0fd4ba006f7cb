package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/lib/pq"
)

// Dispatcher turns due work in Postgres into Asynq tasks. It is also the
// reconciler: a lapsed lease is enqueued again under the same task id.
type Dispatcher struct {
	e        *Engine
	dbURL    string
	kick     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	maxLease int // runs outstanding in the queue at most (backpressure)

	insp      *asynq.Inspector
	lastDepth time.Time
}

// Dispatcher returns the engine's dispatcher. dbURL enables LISTEN nudge_due
// (new runs, replies, finished steps wake it at once); "" polls only.
func (e *Engine) Dispatcher(dbURL string) *Dispatcher {
	return &Dispatcher{e: e, dbURL: dbURL, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		maxLease: 4 * e.cfg.Concurrency * e.cfg.BatchSize, insp: asynq.NewInspector(e.cfg.Redis)}
}

// Kick asks for a pass now.
func (d *Dispatcher) Kick() {
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

// queueDepth refreshes the queue gauges at most every 5 seconds.
func (d *Dispatcher) queueDepth() {
	if d.e.cfg.Metrics == nil || time.Since(d.lastDepth) < 5*time.Second {
		return
	}
	d.lastDepth = time.Now()
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
	// nudge_due: the worker's own transitions and replies; nudge_runs: the
	// scheduler's new runs.
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
		d.queueDepth()
		if n >= d.e.cfg.BatchSize { // more may be due: go on soon
			select {
			case <-d.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		select {
		case <-d.stop:
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

type leased struct {
	ID       int64  `db:"id"`
	Campaign string `db:"campaign_id"`
	Version  string `db:"campaign_version"`
	Step     string `db:"step_id"`
	Seq      int    `db:"step_seq"`
	State    string `db:"state"`
	Key      string `db:"dispatch_key"`
}

// Pass leases due runs and fallback checks once and enqueues their tasks.
// It returns how many rows it leased.
func (d *Dispatcher) Pass(ctx context.Context) (int, error) {
	e := d.e
	now := e.clock.Now()
	pass := time.Now().UnixNano()
	// Backpressure: lease only what the queue can take soon, so leases do not
	// lapse while their tasks wait and a 1M blast is not leased at once.
	room := d.maxLease
	if qi, err := d.insp.GetQueueInfo(Queue); err == nil {
		room -= (qi.Pending + qi.Scheduled + qi.Retry) * e.cfg.BatchSize
	}
	var runs []leased
	if err := e.db.SelectContext(ctx, &runs, qReleaseRuns, now, e.cfg.Lease.Seconds(), d.maxLease, e.cfg.BatchSize,
		strconv.FormatInt(pass, 36)+"r"); err != nil {
		return 0, fmt.Errorf("re-lease runs: %w", err)
	}
	if room > 0 {
		var fresh []leased
		if err := e.db.SelectContext(ctx, &fresh, qLeaseRuns, now, e.cfg.Lease.Seconds(), room, e.cfg.BatchSize,
			strconv.FormatInt(pass, 36)); err != nil {
			return 0, fmt.Errorf("lease runs: %w", err)
		}
		runs = append(runs, fresh...)
	}
	if e.cfg.Metrics != nil {
		e.cfg.Metrics.DueRuns.Set(float64(len(runs)))
	}
	byKey := map[string][]leased{}
	var keyOrder []string
	for _, r := range runs {
		if _, ok := byKey[r.Key]; !ok {
			keyOrder = append(keyOrder, r.Key)
		}
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	var errs []error
	for _, k := range keyOrder {
		if err := d.enqueueRuns(ctx, k, byKey[k]); err != nil {
			errs = append(errs, err)
		}
	}
	var fb []int64
	if err := e.db.SelectContext(ctx, &fb, qLeaseFallbacks, now, e.cfg.Lease.Seconds(), d.maxLease); err != nil {
		errs = append(errs, fmt.Errorf("lease fallbacks: %w", err))
	}
	for start := 0; start < len(fb); start += e.cfg.BatchSize {
		b := fb[start:min(start+e.cfg.BatchSize, len(fb))]
		payload, _ := json.Marshal(fallbackPayload{IDs: b})
		id := fmt.Sprintf("fallback:%d:%d:%d", b[0], b[len(b)-1], len(b))
		if err := d.enqueue(ctx, asynq.NewTask(TypeFallback, payload), id); err != nil {
			errs = append(errs, err)
		}
	}
	return len(runs) + len(fb), errors.Join(errs...)
}

func (d *Dispatcher) enqueueRuns(ctx context.Context, key string, rs []leased) error {
	p := stepPayload{Campaign: rs[0].Campaign, Version: rs[0].Version, Step: rs[0].Step, State: rs[0].State}
	for _, r := range rs {
		p.Runs = append(p.Runs, [2]int64{r.ID, int64(r.Seq)})
	}
	payload, _ := json.Marshal(p)
	return d.enqueue(ctx, asynq.NewTask(TypeStep, payload), key)
}

func (d *Dispatcher) enqueue(ctx context.Context, t *asynq.Task, id string) error {
	_, err := d.e.client.EnqueueContext(ctx, t, asynq.TaskID(id), asynq.Queue(Queue),
		asynq.MaxRetry(maxRetry), asynq.Timeout(taskTimeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", id, err)
	}
	return nil
}
