package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/metrics"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/templates"
)

// Task types, defined next to their handlers.
const (
	TypeClaim    = "flow:claim"     // claim due runs and work them until none are left
	TypeFallback = "msg:fallback"   // a batch of messages whose fallback check is due
	Queue        = "nudge"          // the queue every worker task goes on
	defaultBatch = 500              // runs per claim (one transaction)
	maxRetry     = 8                // transient provider failures before a message is failed
	taskTimeout  = 10 * time.Minute // a rate-limited batch may take long
)

// pendingKey is Asynq's list of the queue's waiting tasks (its key layout,
// asynq:{queue}:pending, is part of Asynq's Redis schema): its length says
// whether a claim is already waiting, far cheaper than Inspector.GetQueueInfo.
const pendingKey = "asynq:{" + Queue + "}:pending"

// Config configures an Engine.
type Config struct {
	DB      *sqlx.DB
	Redis   asynq.RedisConnOpt
	Clock   clock.Clock
	Log     *slog.Logger
	Senders []channels.Sender
	// Gate and Renderer default to PolicyGate and templates.NewRenderer().
	Gate     Gate
	Renderer Renderer
	// Links turns the links of campaign messages into tracked redirects
	// (links.Service); nil sends them as written.
	Links Linker
	// Payments records the invoices of pay buttons (in-chat payments); nil
	// sends no invoice (an adapter refuses a pay button without a payload).
	Payments Invoicer
	// Handoffs records hand-off steps (required: inbox.Handoffs).
	Handoffs Handoffs
	Limiter  *ratelimit.Limiter // nil = unlimited
	Metrics  *metrics.Metrics   // nil = none
	// BatchSize is the number of runs one claim takes (one transaction;
	// default 500).
	BatchSize int
	// Poll is how often the dispatcher looks for due work without a
	// notification (default 1s); Lease how long a leased fallback check may
	// stay unfinished before it is enqueued again (default 30s).
	Poll, Lease time.Duration
	// Concurrency of the Asynq server (default DefaultConcurrency).
	Concurrency int
	// IdleTxTimeout is the idle_in_transaction_session_timeout of DB's
	// sessions (db.WithSessionTimeouts; 0 = none): a claim pings its
	// transaction at a quarter of it while it waits on providers, so only a
	// frozen worker loses its claim (lease.go).
	IdleTxTimeout time.Duration
	// TaskCheck is how often an idle Asynq worker polls for tasks (default
	// 20ms; Asynq's own 1s would put a reply's next message a second away).
	TaskCheck time.Duration
	// Tasks are more task handlers the engine's Asynq server serves on
	// Queue (the outgoing webhooks' deliveries).
	Tasks []TaskHandler
}

// TaskHandler registers a package's Asynq task handlers.
type TaskHandler interface{ Register(mux *asynq.ServeMux) }

// DefaultConcurrency is twice the CPUs, at least 4: a claim alternates
// between Postgres and the provider, and more claims than that on a small
// machine only contend (a 100k blast on 2 cores: 10.1k msg/s with 4, 8.7k
// with 8).
func DefaultConcurrency() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// WithDefaults returns c with zero fields defaulted.
func (c Config) WithDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.TaskCheck <= 0 {
		c.TaskCheck = defaultTaskCheck
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Gate == nil {
		c.Gate = PolicyGate{}
	}
	if c.Renderer == nil {
		c.Renderer = templates.NewRenderer()
	}
	if c.BatchSize <= 0 {
		c.BatchSize = defaultBatch
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency()
	}
	return c
}

func (c Config) validate() error {
	if c.DB == nil {
		return errors.New("worker: Config.DB is required")
	}
	if c.Redis == nil {
		return errors.New("worker: Config.Redis is required")
	}
	if c.Handoffs == nil {
		return errors.New("worker: Config.Handoffs is required (the inbox records hand-offs)")
	}
	return nil
}

// Engine owns the handlers and the components around them.
type Engine struct {
	cfg     Config
	db      *sqlx.DB
	clock   clock.Clock
	log     *slog.Logger
	senders map[channels.Kind]channels.Sender
	client  *asynq.Client
	rdb     redis.UniversalClient

	versions *campaigns.Versions

	// draining is set when Run's context ends: claims finish the batch they
	// hold and take no more, so a SIGTERM is not held up by a long drain.
	draining atomic.Bool
	// claimHint is how many due runs a claim asks for when the last one
	// could work fewer than BatchSize (paced channels work paceRuns of
	// them; claimLimit). 0: BatchSize.
	claimHint atomic.Int64
	// emptyClaims counts the claims of this process that found nothing:
	// every due run was another claim's then (Dispatcher.Pass).
	emptyClaims atomic.Int64

	Statuses *Statuses
}

// New builds an engine; Close releases its Asynq client.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, db: cfg.DB, clock: cfg.Clock, log: cfg.Log,
		senders: map[channels.Kind]channels.Sender{}, client: asynq.NewClient(cfg.Redis),
		versions: campaigns.NewVersions(cfg.DB)}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("worker: Config.Redis does not make a go-redis client")
	}
	e.rdb = rdb
	for _, s := range cfg.Senders {
		e.senders[s.Kind()] = s
	}
	e.Statuses = &Statuses{e: e}
	return e, nil
}

// Close closes the Asynq and Redis clients.
func (e *Engine) Close() error { return errors.Join(e.client.Close(), e.rdb.Close()) }

// Register adds the task handlers to mux.
func (e *Engine) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TypeClaim, e.handleClaim)
	mux.HandleFunc(TypeFallback, e.handleFallback)
	for _, t := range e.cfg.Tasks {
		t.Register(mux)
	}
}

// Server returns an Asynq server configured for the engine's tasks (graceful
// shutdown waits for in-flight tasks up to ShutdownTimeout).
func (e *Engine) Server() *asynq.Server {
	return asynq.NewServer(e.cfg.Redis, asynq.Config{
		Concurrency: e.cfg.Concurrency,
		Queues:      map[string]int{Queue: 1},
		// An idle worker looks for new tasks this often.
		TaskCheckInterval: e.cfg.TaskCheck,
		ShutdownTimeout:   30 * time.Second,
		Logger:            asynqLogger{e.log},
		LogLevel:          asynq.WarnLevel,
		RetryDelayFunc:    func(n int, _ error, _ *asynq.Task) time.Duration { return retryBackoff(n) },
	})
}

// Run serves tasks until ctx ends, then shuts the server down gracefully.
func (e *Engine) Run(ctx context.Context) error {
	srv := e.Server()
	mux := asynq.NewServeMux()
	e.Register(mux)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("worker: start asynq server: %w", err)
	}
	<-ctx.Done()
	e.draining.Store(true)
	srv.Shutdown()
	return nil
}

// definition returns a campaign version's definition (cached: versions are immutable).
func (e *Engine) definition(ctx context.Context, campaignID, version string) (*campaigns.Definition, error) {
	return e.versions.Get(ctx, campaignID, version)
}

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
