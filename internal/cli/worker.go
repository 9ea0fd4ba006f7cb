package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/metrics"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/templates"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/worker"
)

// runtime is the flow engine of one process with what it was built from.
type runtime struct {
	engine     *worker.Engine
	dispatcher *worker.Dispatcher
	sandbox    *sandbox.Sandbox
	hooks      *hooks.Deliverer // outgoing webhooks: dispatcher and task handler
	hooksQ     *asynq.Client
	metrics    *metrics.Metrics
	redisOpt   asynq.RedisConnOpt
	rdb        redis.UniversalClient
	db         *sqlx.DB // the engine's pool (openWorkerDB)
	clock      clock.Clock
	log        *slog.Logger
}

func (r *runtime) Close() {
	r.engine.Close()
	r.hooksQ.Close()
	r.rdb.Close()
	r.db.Close()
}

// openWorkerDB opens the engine's own pool, its sessions bounded by the
// worker's statement and idle-in-transaction timeouts; the process's other
// pool (API, consent, sandbox) keeps the server's settings. It has the size
// of the other: a claim holds one connection and may need a second.
func openWorkerDB(core config.Core, st worker.Settings) (*sqlx.DB, error) {
	dsn, err := db.WithSessionTimeouts(core.DatabaseURL, st.StatementTimeout, st.IdleTxTimeout)
	if err != nil {
		return nil, fmt.Errorf("NUDGE_DATABASE_URL: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wd, err := db.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("worker database pool: %w", err)
	}
	db.SetPool(wd, core.DBMaxConns)
	return wd, nil
}

// runtimeExtras are the parts of the engine that come from the rest of the
// stack: configured provider senders with their rates, the renderer, and
// where the sandbox's simulated replies go (the inbound sink).
type runtimeExtras struct {
	clock    clock.Clock
	senders  []channels.Sender
	rates    map[string]ratelimit.Rate
	renderer *templates.Renderer
	inbound  func(ctx context.Context, ev channels.Event) error
	links    *links.Service    // tracked links of campaign messages; nil = none
	pay      *payments.Service // invoices of pay buttons; nil = none
}

// buildRuntime wires the engine: the provider senders plus the sandbox
// channel, the Redis rate limiter, metrics and the injected clock.
func (a *App) buildRuntime(core config.Core, st worker.Settings, d *sqlx.DB, x runtimeExtras) (*runtime, error) {
	rc, err := redisconn.Parse(core.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	ropt := rc.Asynq()
	clk := x.clock
	if clk == nil {
		return nil, fmt.Errorf("buildRuntime: no clock")
	}
	wd, err := openWorkerDB(core, st)
	if err != nil {
		return nil, err
	}
	rt := &runtime{metrics: metrics.New(), redisOpt: ropt, rdb: rc.Client(), db: wd, clock: clk, log: a.Log}
	// The engine that applies the sandbox's statuses sends through it: its
	// status receiver is connected once the engine exists.
	rt.sandbox = sandbox.New(sandbox.Config{DB: d, Now: clk.Now, Default: sandbox.Behavior{Delay: st.SandboxDelay},
		Inbound: x.inbound})
	senders := append([]channels.Sender{rt.sandbox}, x.senders...)
	rates := x.rates
	if rates == nil {
		rates = map[string]ratelimit.Rate{}
	}
	// Webhook deliveries post on the process's main pool (a request is
	// made inside its delivery's transaction) and run as the engine's tasks.
	rt.hooksQ = asynq.NewClient(ropt)
	rt.hooks, err = hooks.New(hooks.Config{DB: d, Clock: clk, Log: a.Log, Queue: worker.Queue, Client: rt.hooksQ,
		DatabaseURL: core.DatabaseURL})
	if err != nil {
		rt.hooksQ.Close()
		rt.rdb.Close()
		wd.Close()
		return nil, err
	}
	cfg := worker.Config{
		Tasks: []worker.TaskHandler{rt.hooks},
		DB:    wd, IdleTxTimeout: st.IdleTxTimeout, Redis: ropt, Clock: clk, Log: a.Log,
		Senders:   senders,
		Handoffs:  inbox.Handoffs{},
		Limiter:   ratelimit.New(rt.rdb, rates),
		Metrics:   rt.metrics,
		BatchSize: st.BatchSize, Poll: st.Poll, Lease: st.Lease, Concurrency: st.Concurrency, TaskCheck: st.TaskCheck,
	}
	if x.renderer != nil {
		cfg.Renderer = x.renderer
	}
	if x.links != nil {
		cfg.Links = x.links
	}
	if x.pay != nil {
		cfg.Payments = x.pay
	}
	eng, err := worker.New(cfg)
	if err != nil {
		rt.hooksQ.Close()
		rt.rdb.Close()
		wd.Close()
		return nil, err
	}
	rt.sandbox.ReportStatusesTo(eng.Statuses.Apply)
	rt.engine = eng
	rt.dispatcher = eng.Dispatcher(core.DatabaseURL)
	return rt, nil
}

// work runs the dispatcher, the sandbox's reports and the Asynq server until
// ctx ends, then stops taking tasks and waits for the ones in flight
// (graceful SIGTERM).
func (r *runtime) work(ctx context.Context) error {
	r.dispatcher.Start()
	defer r.dispatcher.Stop()
	stop, err := startLoops(ctx, sandbox.NewReporter(r.sandbox, r.clock, sandbox.DefaultReportEvery, r.log), r.hooks)
	if err != nil {
		return err
	}
	defer stop()
	return r.engine.Run(ctx)
}

func (a *App) workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run flow steps: dispatch due runs from Postgres and process them from Asynq",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, s, closeStack, err := a.openStack(ctx, false)
			if err != nil {
				return err
			}
			defer closeStack()
			// GOMEMLIMIT, when set, is the runtime's own and wins.
			if c.st.MemoryLimitMiB > 0 && a.Env.String("GOMEMLIMIT", "") == "" {
				debug.SetMemoryLimit(int64(c.st.MemoryLimitMiB) << 20)
			}
			g, gctx := errgroup.WithContext(ctx)
			if c.st.MetricsAddr != "" {
				srv := server.New(a.Log, nil, s.rt.metrics)
				g.Go(func() error { return srv.Serve(gctx, c.st.MetricsAddr, nil) })
			}
			g.Go(func() error { return s.rt.work(gctx) })
			a.Log.Info("worker started", "concurrency", c.st.Concurrency, "batch", c.st.BatchSize,
				"memory_limit_bytes", debug.SetMemoryLimit(-1)) // the limit in force, whichever set it
			return ignoreCanceled(g.Wait())
		},
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// adminQueues serves asynqmon at /admin/queues to signed-in admins.
type adminQueues struct{ h http.Handler }

func newAsynqmon(ropt asynq.RedisConnOpt) http.Handler {
	return asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: ropt})
}

func (q adminQueues) Register(mux *server.Mux) {
	mux.Handle("/admin/queues/", users.Settings, q.h)
	mux.Handle("/admin/queues", users.Settings, http.RedirectHandler("/admin/queues/", http.StatusMovedPermanently))
}

func (a *App) runCmd() *cobra.Command {
	return a.rolesCmd("run", "Run every role in one process: HTTP API, scheduler and worker",
		"apply pending migrations before starting", true, true)
}

// openStack loads the roles' configuration, opens the database (applying
// pending migrations first when migrate is set) and builds the stack on it;
// closeStack closes the stack, then the database.
func (a *App) openStack(ctx context.Context, migrate bool) (c stackConfig, s *stack, closeStack func(), err error) {
	if c, err = a.loadStackConfig(); err != nil {
		return c, nil, nil, err
	}
	d, err := a.openDB(ctx, migrate)
	if err != nil {
		return c, nil, nil, err
	}
	if s, err = a.buildStack(c, d, channels.NewHTTPClient()); err != nil {
		d.Close()
		return c, nil, nil, err
	}
	return c, s, func() { s.Close(); d.Close() }, nil
}

// runRoles serves HTTP and, as asked, runs the worker and the scheduler in
// this process until ctx ends.
func (a *App) runRoles(ctx context.Context, migrate, work, schedule bool) error {
	c, s, closeStack, err := a.openStack(ctx, migrate)
	if err != nil {
		return err
	}
	defer closeStack()
	g, gctx := errgroup.WithContext(ctx)
	srv := s.server()
	g.Go(func() error { return srv.Serve(gctx, c.core.HTTPAddr, nil) })
	g.Go(func() error { return s.loops(gctx) })
	if work {
		g.Go(func() error { return s.rt.work(gctx) })
	}
	if schedule {
		sched := scheduler.New(s.db, c.clock.Now, a.Log, c.sched)
		stop, err := startLoops(gctx, sched, scheduler.NewLagReporter(sched, s.rt.metrics, c.clock, scheduler.DefaultLagEvery))
		if err != nil {
			return err
		}
		defer stop()
	}
	return ignoreCanceled(g.Wait())
}
