package cli

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/campaigns/preview"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/migrations"
	"github.com/nudge-engine/nudge/subscribers"
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
			ui, err := web.New(users.NewStore(d, nil), a.Log, strings.HasPrefix(core.BaseURL, "https://"))
			if err != nil {
				return err
			}
			srv := server.New(a.Log, checks, ui,
				campaigns.NewAPI(campaigns.APIConfig{Store: campaigns.NewStore(d, campaigns.WithLinter(channelcheck.Linter())), Log: a.Log}),
				&preview.API{P: preview.New(campaigns.NewStore(d), d, nil, time.Now), Log: a.Log},
				// Opt-in pages only: /v1/consent joins once the API-key middleware is wired.
				consent.NewRoutes(consent.RoutesConfig{DB: d, Config: ccfg, Log: a.Log}).Public(),
				subscribers.NewAPI(subscribers.APIConfig{Store: subscribers.NewStore(d, nil), Importer: subscribers.NewImporter(d, nil),
					Log: a.Log, Auth: apikeys.Middleware(apikeys.NewStore(d, nil), a.Log)}),
			)
			srv.Use(ui.Wrap)
			return srv.Serve(ctx, core.HTTPAddr, nil)
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations before serving")
	return cmd
}
