package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/metrics"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/worker"
)

// runtime is the flow engine of one process with what it was built from.
type runtime struct {
	engine     *worker.Engine
	dispatcher *worker.Dispatcher
	sandbox    *sandbox.Sandbox
	metrics    *metrics.Metrics
	redisOpt   asynq.RedisConnOpt
	rdb        *redis.Client
}

func (r *runtime) Close() {
	r.engine.Close()
	r.rdb.Close()
}

// buildRuntime wires the engine: the sandbox channel, the Redis rate
// limiter, metrics and the injected clock from the settings.
func (a *App) buildRuntime(core config.Core, st worker.Settings, d *sqlx.DB) (*runtime, error) {
	ropt, err := asynq.ParseRedisURI(core.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	gopt, err := redis.ParseURL(core.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	rt := &runtime{metrics: metrics.New(), redisOpt: ropt, rdb: redis.NewClient(gopt)}
	clk := st.Clock()
	var eng *worker.Engine
	rt.sandbox = sandbox.New(sandbox.Config{DB: d, Now: clk.Now, Default: sandbox.Behavior{Delay: st.SandboxDelay},
		Statuses: func(ctx context.Context, ev channels.Event) error { return eng.Statuses.Apply(ctx, ev) },
		Inbound: func(ctx context.Context, ev channels.Event) error {
			_, err := eng.Replies.HandleEvent(ctx, ev)
			return err
		}})
	eng, err = worker.New(worker.Config{
		DB: d, Redis: ropt, Clock: clk, Log: a.Log,
		Senders:   []channels.Sender{rt.sandbox},
		Limiter:   ratelimit.New(rt.rdb, map[string]ratelimit.Rate{}),
		Metrics:   rt.metrics,
		BatchSize: st.BatchSize, Poll: st.Poll, Lease: st.Lease, Concurrency: st.Concurrency,
	})
	if err != nil {
		rt.rdb.Close()
		return nil, err
	}
	rt.engine = eng
	rt.dispatcher = eng.Dispatcher(core.DatabaseURL)
	return rt, nil
}

// work runs the dispatcher and the Asynq server until ctx ends, then stops
// taking tasks and waits for the ones in flight (graceful SIGTERM).
func (r *runtime) work(ctx context.Context) error {
	r.dispatcher.Start()
	defer r.dispatcher.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	go func() { // sandbox statuses and simulated replies
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_, _ = r.sandbox.Tick(ctx)
			}
		}
	}()
	return r.engine.Run(ctx)
}

func (a *App) workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run flow steps: dispatch due runs from Postgres and process them from Asynq",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			core, err := a.Core()
			if err != nil {
				return err
			}
			st := worker.LoadSettings(a.Env)
			if err := a.Env.Err(); err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			d, err := a.OpenDB(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			rt, err := a.buildRuntime(core, st, d)
			if err != nil {
				return err
			}
			defer rt.Close()
			g, gctx := errgroup.WithContext(ctx)
			if st.MetricsAddr != "" {
				srv := server.New(a.Log, nil, rt.metrics)
				g.Go(func() error { return srv.Serve(gctx, st.MetricsAddr, nil) })
			}
			g.Go(func() error { return rt.work(gctx) })
			a.Log.Info("worker started", "concurrency", st.Concurrency, "batch", st.BatchSize)
			return g.Wait()
		},
	}
}

// adminQueues serves asynqmon at /admin/queues behind HTTP basic auth with
// NUDGE_ADMIN_PASSWORD (user "admin"); without a password it is not mounted.
type adminQueues struct {
	password string
	h        http.Handler
}

func newAdminQueues(ropt asynq.RedisConnOpt, password string) *adminQueues {
	if password == "" {
		return &adminQueues{}
	}
	return &adminQueues{password: password, h: asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: ropt})}
}

func (q *adminQueues) Register(mux *http.ServeMux) {
	if q.h == nil {
		return
	}
	mux.Handle("/admin/queues/", q)
	mux.Handle("/admin/queues", http.RedirectHandler("/admin/queues/", http.StatusMovedPermanently))
}

func (q *adminQueues) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(u), []byte("admin")) != 1 ||
		subtle.ConstantTimeCompare([]byte(p), []byte(q.password)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="nudge admin"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	q.h.ServeHTTP(w, r)
}

func (a *App) runCmd() *cobra.Command {
	var migrate bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run every role in one process: HTTP API, scheduler and worker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			core, err := a.Core()
			if err != nil {
				return err
			}
			st := worker.LoadSettings(a.Env)
			password := a.Env.String("NUDGE_ADMIN_PASSWORD", "")
			if err := a.Env.Err(); err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			d, err := a.OpenDB(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			if migrate {
				if err := migrations.Up(ctx, d.DB); err != nil {
					return err
				}
			}
			rt, err := a.buildRuntime(core, st, d)
			if err != nil {
				return err
			}
			defer rt.Close()
			if password == "" {
				a.Log.Warn("NUDGE_ADMIN_PASSWORD is not set: /admin/queues is not served")
			}
			checks := map[string]server.Check{
				"postgres": func(ctx context.Context) error { return d.PingContext(ctx) },
				"redis":    func(ctx context.Context) error { return rt.rdb.Ping(ctx).Err() },
			}
			srv := server.New(a.Log, checks, rt.metrics, newAdminQueues(rt.redisOpt, password))
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Serve(gctx, core.HTTPAddr, nil) })
			g.Go(func() error { return rt.work(gctx) })
			// Scheduler role: the scheduler helper adds scheduler.New(...) here,
			// started with g.Go(func() error { return sched.Run(gctx) }).
			err = g.Wait()
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations before starting")
	return cmd
}
