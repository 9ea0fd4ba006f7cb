package cli

import (
	"context"
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
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/metrics"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/scheduler"
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
	// The configured providers with their default rates; the worker only
	// sends (webhooks are served by `nudge serve`, whose sink the lead wires).
	cs := loadChannels(a.Env, channels.SinkFunc(func(context.Context, []channels.Event) (channels.Ack, error) {
		return channels.Ack{}, errors.New("webhooks are not served by the worker")
	}), a.Log, &http.Client{Timeout: 30 * time.Second})
	if err := a.Env.Err(); err != nil {
		rt.rdb.Close()
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	senders := []channels.Sender{rt.sandbox}
	rates := map[string]ratelimit.Rate{}
	for _, k := range cs.Registry.Kinds() {
		s, _ := cs.Registry.Sender(k)
		senders = append(senders, s)
		r := cs.Rates[k]
		rates[string(k)] = ratelimit.Rate{PerSecond: r.PerSecond, PerChatPerSecond: r.PerChatPerSecond}
	}
	eng, err = worker.New(worker.Config{
		DB: d, Redis: ropt, Clock: clk, Log: a.Log,
		Senders:   senders,
		Limiter:   ratelimit.New(rt.rdb, rates),
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

// adminQueues serves asynqmon at /admin/queues behind guard (the UI's
// admin-only check).
type adminQueues struct {
	h http.Handler
}

func newAdminQueues(ropt asynq.RedisConnOpt, guard func(http.Handler) http.Handler) *adminQueues {
	return &adminQueues{h: guard(asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: ropt}))}
}

// Register mounts the UI (implements server.Routes).
func (q *adminQueues) Register(mux *http.ServeMux) {
	mux.Handle("/admin/queues/", q.h)
	mux.Handle("/admin/queues", http.RedirectHandler("/admin/queues/", http.StatusMovedPermanently))
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
			ccfg := consent.LoadConfig(a.Env)
			scfg := scheduler.LoadConfig(a.Env)
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
			checks := map[string]server.Check{
				"postgres": func(ctx context.Context) error { return d.PingContext(ctx) },
				"redis":    func(ctx context.Context) error { return rt.rdb.Ping(ctx).Err() },
			}
			srv, err := a.httpServer(core, ccfg, d, checks, rt.metrics)
			if err != nil {
				return err
			}
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return srv.Serve(gctx, core.HTTPAddr, nil) })
			g.Go(func() error { return rt.work(gctx) })
			// Scheduler role, on the same injected clock as the worker.
			sched := scheduler.New(d, st.Clock().Now, a.Log, scfg)
			if err := sched.Start(gctx); err != nil {
				return err
			}
			g.Go(func() error {
				t := time.NewTicker(5 * time.Second)
				defer t.Stop()
				for {
					select {
					case <-gctx.Done():
						sched.Stop()
						return nil
					case <-t.C:
						rt.metrics.SetSchedulerLag(sched.Lag())
					}
				}
			})
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
