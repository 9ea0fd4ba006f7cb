package cli

import (
	"github.com/spf13/cobra"
)

func (a *App) serveCmd() *cobra.Command {
	return a.rolesCmd("serve", "Serve the HTTP API, opt-in pages, webhooks, inbox and dashboard",
		"apply pending migrations before serving", false, false)
}

// rolesCmd is a command that serves HTTP and, as work and schedule say,
// runs the worker and the scheduler in this process (runRoles), with a
// --migrate flag described by migrateUsage.
func (a *App) rolesCmd(use, short, migrateUsage string, work, schedule bool) *cobra.Command {
	var migrate bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRoles(cmd.Context(), migrate, work, schedule)
		},
	}
	cmd.Flags().BoolVar(&migrate, "migrate", false, migrateUsage)
	return cmd
}
