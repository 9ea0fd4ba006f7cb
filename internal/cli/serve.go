package cli

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/internal/metrics"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/migrations"
)

func (a *App) serveCmd() *cobra.Command {
	var migrate bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API, opt-in pages and webhooks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			core, err := a.Core()
			if err != nil {
				return err
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
			ropt, err := redis.ParseURL(core.RedisURL)
			if err != nil {
				return err
			}
			rdb := redis.NewClient(ropt)
			defer rdb.Close()
			checks := map[string]server.Check{
				"postgres": func(ctx context.Context) error { return d.PingContext(ctx) },
				"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
			}
			aopt, err := asynq.ParseRedisURI(core.RedisURL)
			if err != nil {
				return err
			}
			srv := server.New(a.Log, checks, metrics.New(), newAdminQueues(aopt, a.Env.String("NUDGE_ADMIN_PASSWORD", "")))
			return srv.Serve(ctx, core.HTTPAddr, nil)
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations before serving")
	return cmd
}
