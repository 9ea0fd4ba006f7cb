package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
)

// TypeDeliver is the Asynq task that posts one (endpoint, subscriber) line.
const TypeDeliver = "hooks:deliver"

// DisableAfter is how long an endpoint may fail without one success before
// it is disabled.
const DisableAfter = 24 * time.Hour

// Defaults of Config.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultEvery     = time.Second
	DefaultFirstWait = 5 * time.Second
	DefaultMaxWait   = time.Hour
)

const (
	// Due line heads, oldest line first; a line is an (endpoint, subscriber)
	// pair of an enabled endpoint, its head its smallest pending id. A head
	// being posted (its lease runs) is not due: its task is on it.
	qDueHeads = `SELECT endpoint_id, subscriber_id, id, attempts FROM (
	               SELECT DISTINCT ON (d.endpoint_id, d.subscriber_id) d.endpoint_id, d.subscriber_id, d.id, d.attempts,
	                      d.next_at, d.posting_until
	                 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
	                WHERE d.state = 'pending'
	                ORDER BY d.endpoint_id, d.subscriber_id, d.id) h
	              WHERE (next_at IS NULL OR next_at <= $1) AND (posting_until IS NULL OR posting_until < now())
	              ORDER BY id LIMIT $2`
	// Leases the line's head if it is due and no other task's lease on it
	// runs (that task is posting it: the line waits), and returns what its
	// request needs; one statement, so the body is read as the lease is
	// taken. Two tasks racing for a head: the second waits for the first's
	// row and then finds it leased. The lease is database time: the
	// request's timeout is wall time.
	qLeaseHead = `UPDATE webhook_deliveries d SET posting_until = now() + make_interval(secs => $4)
	                FROM webhook_endpoints e, webhook_events ev
	               WHERE d.id = (SELECT min(id) FROM webhook_deliveries
	                              WHERE endpoint_id = $1 AND subscriber_id = $2 AND state = 'pending')
	                 AND d.state = 'pending' AND (d.posting_until IS NULL OR d.posting_until < now())
	                 AND (d.next_at IS NULL OR d.next_at <= $3)
	                 AND e.id = d.endpoint_id AND e.enabled AND ev.id = d.event_id
	           RETURNING d.id, d.event_id, d.attempts, e.url, e.secret, ev.type, ev.data, ev.external_id,
	                     ev.created_at, d.posting_until`
	// Outcomes are recorded only under the lease that posted ($last): past
	// it, another task may have posted the head again, and its outcome counts.
	qDelivered = `UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_attempt_at = $2,
	                     delivered_at = $2, last_status = $3, last_error = '', latency_ms = $4, posting_until = NULL
	               WHERE id = $1 AND posting_until = $5`
	qFailed = `UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = $2, next_at = $3,
	                  last_status = $4, last_error = $5, latency_ms = $6, posting_until = NULL
	            WHERE id = $1 AND posting_until = $7`
	qEndpointOK      = `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`
	qEndpointFailing = `UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
	                     WHERE id = $1 RETURNING failing_since, enabled`
	qDisable = `UPDATE webhook_endpoints SET enabled = false, disabled_at = $2, disabled_reason = $3, updated_at = $2
	             WHERE id = $1 AND enabled`
)

// Config configures a Deliverer.
type Config struct {
	DB    *sqlx.DB
	Clock clock.Clock
	Log   *slog.Logger
	// Queue is the Asynq queue of the worker's server; Client enqueues on it.
	Queue  string
	Client *asynq.Client
	// HTTP posts the requests; nil is a client with Timeout.
	HTTP    *http.Client
	Timeout time.Duration // one request (default 10 s)
	// DatabaseURL, when set, lets the dispatcher LISTEN for new events
	// instead of waiting for its next tick.
	DatabaseURL string
	Every       time.Duration // the dispatcher's tick on Clock (default 1 s)
	// Wall stamps the signatures (default clock.Real). A receiver checks
	// the stamp against its own clock, so it stays the wall clock while the
	// engine runs on a scaled flow clock (the demo); backoff, the 24 h rule
	// and the log use Clock.
	Wall clock.Clock
	// FirstWait and MaxWait bound the backoff: FirstWait after the first
	// failure, doubling, at most MaxWait.
	FirstWait, MaxWait time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: c.Timeout}
	}
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.FirstWait <= 0 {
		c.FirstWait = DefaultFirstWait
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Wall == nil {
		c.Wall = clock.Real{}
	}
	return c
}

// Deliverer posts deliveries: its dispatcher queues due lines, its task
// handler posts them.
type Deliverer struct {
	cfg  Config
	loop *clock.Loop
	kick chan struct{}

	mu   sync.Mutex
	stop func()
}

// New returns a Deliverer.
func New(cfg Config) (*Deliverer, error) {
	cfg = cfg.WithDefaults()
	if cfg.DB == nil || cfg.Clock == nil || cfg.Client == nil || cfg.Queue == "" {
		return nil, errors.New("hooks: Config needs DB, Clock, Client and Queue")
	}
	return &Deliverer{cfg: cfg, kick: make(chan struct{}, 1)}, nil
}

// Backoff is the wait after the n-th consecutive failure of a delivery.
func (d *Deliverer) Backoff(n int) time.Duration {
	w := d.cfg.FirstWait
	for i := 1; i < n && w < d.cfg.MaxWait; i++ {
		w *= 2
	}
	return min(w, d.cfg.MaxWait)
}

// Register adds the task handler to the worker's Asynq mux.
func (d *Deliverer) Register(mux *asynq.ServeMux) { mux.HandleFunc(TypeDeliver, d.handle) }

type line struct {
	Endpoint   int64 `json:"endpoint_id"`
	Subscriber int64 `json:"subscriber_id"`
}

// Dispatch queues a task for each line whose head is due and returns how
// many it queued. A line already queued for the same head and attempt is
// not queued twice (the task id), so every worker may dispatch.
func (d *Deliverer) Dispatch(ctx context.Context) (int, error) {
	var heads []struct {
		Endpoint   int64 `db:"endpoint_id"`
		Subscriber int64 `db:"subscriber_id"`
		ID         int64 `db:"id"`
		Attempts   int   `db:"attempts"`
	}
	if err := d.cfg.DB.SelectContext(ctx, &heads, qDueHeads, d.cfg.Clock.Now(), 1000); err != nil {
		return 0, fmt.Errorf("hooks: due lines: %w", err)
	}
	n := 0
	for _, h := range heads {
		p, _ := json.Marshal(line{h.Endpoint, h.Subscriber})
		id := fmt.Sprintf("hook:%d:%d:%d:%d", h.Endpoint, h.Subscriber, h.ID, h.Attempts)
		_, err := d.cfg.Client.EnqueueContext(ctx, asynq.NewTask(TypeDeliver, p), asynq.Queue(d.cfg.Queue), asynq.TaskID(id), asynq.MaxRetry(5))
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
		case err != nil:
			return n, fmt.Errorf("hooks: enqueue: %w", err)
		default:
			n++
		}
	}
	return n, nil
}

// Start runs the dispatcher until Stop or ctx ends: on its tick (retries
// coming due) and, with DatabaseURL, on every emitted event.
func (d *Deliverer) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	d.loop = &clock.Loop{Clock: d.cfg.Clock, Every: d.cfg.Every, MinWall: 100 * time.Millisecond, Tick: func(context.Context) { d.Kick() }}
	if err := d.loop.Start(ctx); err != nil {
		cancel()
		return err
	}
	var wg sync.WaitGroup
	var ln *pq.Listener
	if d.cfg.DatabaseURL != "" {
		ln = pq.NewListener(d.cfg.DatabaseURL, 100*time.Millisecond, 10*time.Second, nil)
		if err := ln.Listen("nudge_hooks"); err != nil {
			d.cfg.Log.WarnContext(ctx, "hooks: listen", "err", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-ln.Notify: // nil after a reconnect: look anyway
					d.Kick()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.Kick() // what waited while no dispatcher ran
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.kick:
				if _, err := d.Dispatch(ctx); err != nil && ctx.Err() == nil {
					d.cfg.Log.WarnContext(ctx, "hooks: dispatch", "err", err)
				}
			}
		}
	}()
	d.mu.Lock()
	d.stop = func() {
		cancel()
		d.loop.Stop()
		if ln != nil {
			ln.Close()
		}
		wg.Wait()
	}
	d.mu.Unlock()
	return nil
}

// Stop ends the dispatcher and waits for it.
func (d *Deliverer) Stop() {
	d.mu.Lock()
	stop := d.stop
	d.stop = nil
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Kick asks the dispatcher for a pass; kicks coalesce.
func (d *Deliverer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// maxPerTask bounds how much of a line one task posts before it lets other
// lines have the worker.
const maxPerTask = 50

func (d *Deliverer) handle(ctx context.Context, t *asynq.Task) error {
	var l line
	if err := json.Unmarshal(t.Payload(), &l); err != nil {
		return fmt.Errorf("hooks: task payload: %v: %w", err, asynq.SkipRetry)
	}
	for i := 0; i < maxPerTask; i++ {
		more, err := d.postHead(ctx, l)
		if err != nil {
			return err
		}
		if !more {
			// An event committed while this task ran was not queued (its
			// line's task id was taken): look again now, not at the tick.
			if i > 0 {
				d.Kick()
			}
			return nil
		}
	}
	d.Kick() // the rest of the line, in a new task
	return nil
}

// leaseMargin is how much longer than a request's timeout a head stays
// leased: time to record the outcome under load. A poster that died holds
// its line this long.
const leaseMargin = 30 * time.Second

// head is a leased line head with what its request needs.
type head struct {
	ID         int64           `db:"id"`
	EventID    int64           `db:"event_id"`
	Attempts   int             `db:"attempts"`
	URL        string          `db:"url"`
	Secret     string          `db:"secret"`
	Type       string          `db:"type"`
	Data       json.RawMessage `db:"data"`
	ExternalID string          `db:"external_id"`
	At         time.Time       `db:"created_at"`
	Lease      time.Time       `db:"posting_until"`
}

// leaseHead leases the line's head (qLeaseHead); ok is false when there is
// nothing to post.
func (d *Deliverer) leaseHead(ctx context.Context, l line, now time.Time) (h head, ok bool, err error) {
	err = d.cfg.DB.GetContext(ctx, &h, qLeaseHead, l.Endpoint, l.Subscriber, now, (d.cfg.Timeout + leaseMargin).Seconds())
	if db.IsNoRows(err) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("hooks: lease head: %w", err)
	}
	return h, true, nil
}

// postHead posts the line's head if it is due, under a lease and outside
// any transaction (a slow receiver holds no connection and no row lock), and
// records the outcome if the lease still holds. It reports whether the head
// was delivered (the next one may be due too).
func (d *Deliverer) postHead(ctx context.Context, l line) (bool, error) {
	now := d.cfg.Clock.Now()
	h, ok, err := d.leaseHead(ctx, l, now)
	if err != nil || !ok {
		return false, err
	}
	body, err := envelope(h.EventID, h.Type, h.At, l.Subscriber, h.ExternalID, h.Data)
	if err != nil {
		return false, err
	}
	start := time.Now()
	status, perr := d.post(ctx, h.URL, h.Secret, h.ID, h.Type, body)
	ms := int(time.Since(start).Milliseconds())
	// Recorded even when ctx ended meanwhile (a shutdown): the request was
	// made, and an unrecorded success would be posted again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	defer cancel()
	var delivered bool
	err = db.WithTx(rctx, d.cfg.DB, func(tx *sqlx.Tx) error {
		if perr == nil {
			if n, err := db.Exec(rctx, tx, "hooks: record delivery", qDelivered, h.ID, now, status, ms, h.Lease); err != nil || n == 0 {
				return err // none: the lease lapsed, the head is another task's now
			}
			if _, err := tx.ExecContext(rctx, qEndpointOK, l.Endpoint); err != nil {
				return fmt.Errorf("hooks: endpoint ok: %w", err)
			}
			delivered = true
			return nil
		}
		var st any
		if status > 0 {
			st = status
		}
		next := now.Add(d.Backoff(h.Attempts + 1))
		if n, err := db.Exec(rctx, tx, "hooks: record failure", qFailed, h.ID, now, next, st, truncate(perr.Error(), 300), ms, h.Lease); err != nil || n == 0 {
			return err
		}
		d.cfg.Log.WarnContext(ctx, "webhook delivery failed", "endpoint_id", l.Endpoint, "delivery_id", h.ID,
			"attempt", h.Attempts+1, "status", status, "err", perr)
		return d.failing(rctx, tx, l.Endpoint, now)
	})
	return delivered, err
}

// failing records a failure against the endpoint and disables it once it
// has failed for DisableAfter without a success, telling the admins through
// the audit log (and the settings page, which shows disabled endpoints).
func (d *Deliverer) failing(ctx context.Context, tx *sqlx.Tx, endpoint int64, now time.Time) error {
	var f struct {
		Since   time.Time `db:"failing_since"`
		Enabled bool      `db:"enabled"`
	}
	if err := tx.GetContext(ctx, &f, qEndpointFailing, endpoint, now); err != nil {
		return fmt.Errorf("hooks: endpoint failing: %w", err)
	}
	if !f.Enabled || now.Sub(f.Since) < DisableAfter {
		return nil
	}
	reason := "failed for 24 hours without a success since " + f.Since.UTC().Format(time.RFC3339)
	if n, err := db.Exec(ctx, tx, "hooks: disable endpoint", qDisable, endpoint, now, reason); err != nil || n == 0 {
		return err
	}
	d.cfg.Log.ErrorContext(ctx, "webhook endpoint disabled", "endpoint_id", endpoint, "failing_since", f.Since)
	return audit.Record(ctx, tx, now, audit.Event{Action: "webhook.disabled", Subject: subject(endpoint),
		Detail: map[string]any{"reason": reason}})
}

// post sends one signed request; any status but 2xx is a failure.
func (d *Deliverer) post(ctx context.Context, url, secret string, deliveryID int64, typ string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Nudge-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(secret, d.cfg.Wall.Now(), body))
	req.Header.Set("Nudge-Event-Type", typ)
	req.Header.Set("Nudge-Delivery-Id", strconv.FormatInt(deliveryID, 10))
	resp, err := d.cfg.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
