package cli

import (
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/migrations"
)

func (a *App) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list database migrations",
	}
	run := func(use, short string, fn func(cmd *cobra.Command) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error { return fn(cmd) }}
	}
	cmd.AddCommand(
		run("up", "Apply every pending migration", func(cmd *cobra.Command) error {
			d, err := a.OpenDB(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if err := migrations.Up(cmd.Context(), d.DB); err != nil {
				return err
			}
			a.Log.Info("migrations applied")
			return nil
		}),
		run("down", "Roll back the newest migration", func(cmd *cobra.Command) error {
			d, err := a.OpenDB(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			return migrations.Down(cmd.Context(), d.DB)
		}),
		run("status", "List migrations and whether each is applied", func(cmd *cobra.Command) error {
			d, err := a.OpenDB(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			return migrations.Status(cmd.Context(), d.DB, a.Stdout)
		}),
	)
	return cmd
}
