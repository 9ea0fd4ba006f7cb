package cli

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/migrations"
)

func (a *App) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list database migrations",
	}
	run := func(use, short string, fn func(ctx context.Context, d *sqlx.DB) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, _ []string) error {
			return fn(ctx, d)
		})}
	}
	cmd.AddCommand(
		run("up", "Apply every pending migration", func(ctx context.Context, d *sqlx.DB) error {
			if err := migrations.Up(ctx, d.DB); err != nil {
				return err
			}
			a.Log.Info("migrations applied")
			return nil
		}),
		run("down", "Roll back the newest migration", func(ctx context.Context, d *sqlx.DB) error {
			return migrations.Down(ctx, d.DB)
		}),
		run("status", "List migrations and whether each is applied", func(ctx context.Context, d *sqlx.DB) error {
			return migrations.Status(ctx, d.DB, a.Stdout)
		}),
	)
	return cmd
}
