package cli

import (
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/scheduler"
)

func (a *App) schedulerCmd() *cobra.Command {
	var migrate bool
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Create flow runs from schedule and event triggers (one instance leads)",
		Long: `Run the scheduler. Any number may run; one leads (Postgres advisory lock)
and the others take over within NUDGE_SCHEDULER_LEADER_RETRY when it dies.
It creates flow runs for schedule occurrences and posted events and wakes the
workers with NOTIFY nudge_runs. Stops gracefully on SIGINT/SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg := scheduler.LoadConfig(a.Env)
			// The flow clock every role shares: event due times and cron
			// occurrences are decided on it, not on this process's wall clock.
			clk := a.flowClock()
			if _, err := a.Core(); err != nil {
				return err
			}
			d, err := a.openDB(ctx, migrate)
			if err != nil {
				return err
			}
			defer d.Close()
			s := scheduler.New(d, clk.Now, a.Log, cfg)
			if err := s.Start(ctx); err != nil {
				return err
			}
			a.Log.Info("scheduler started", "interval", cfg.Interval.String(), "max_lateness", cfg.MaxLateness.String())
			<-ctx.Done()
			s.Stop()
			a.Log.Info("scheduler stopped")
			return nil
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, "apply pending migrations before starting")
	return cmd
}
