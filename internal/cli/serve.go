package cli

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/campaigns/preview"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/metrics"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/users"
	"github.com/nudge-engine/nudge/web"
)

func (a *App) serveCmd() *cobra.Command {
	var migrate bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API, opt-in pages and webhooks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ccfg := consent.LoadConfig(a.Env) // validated with the core variables below
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
			srv, err := a.httpServer(core, ccfg, d, checks, metrics.New())
			if err != nil {
				return err
			}
			return srv.Serve(ctx, core.HTTPAddr, nil)
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations before serving")
	return cmd
}

// httpServer is the HTTP role shared by serve and run: the UI, the APIs, the
// opt-in pages, /metrics and asynqmon at /admin/queues (admins only).
func (a *App) httpServer(core config.Core, ccfg consent.Config, d *sqlx.DB, checks map[string]server.Check, m *metrics.Metrics) (*server.Server, error) {
	ui, err := web.New(users.NewStore(d, nil), a.Log, strings.HasPrefix(core.BaseURL, "https://"))
	if err != nil {
		return nil, err
	}
	aopt, err := asynq.ParseRedisURI(core.RedisURL)
	if err != nil {
		return nil, err
	}
	srv := server.New(a.Log, checks, ui,
		campaigns.NewAPI(campaigns.APIConfig{Store: campaigns.NewStore(d, campaigns.WithLinter(channelcheck.Linter())), Log: a.Log}),
		&preview.API{P: preview.New(campaigns.NewStore(d), d, nil, time.Now), Log: a.Log},
		// Opt-in pages only: /v1/consent joins once the API-key middleware is wired.
		consent.NewRoutes(consent.RoutesConfig{DB: d, Config: ccfg, Log: a.Log}).Public(),
		m,
		newAdminQueues(aopt, func(h http.Handler) http.Handler { return ui.Require(users.Admin, h) }),
	)
	srv.Use(ui.Wrap)
	return srv, nil
}
