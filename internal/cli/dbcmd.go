package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
)

// withDB makes run a command's RunE: it opens the configured database,
// hands it to run with the command's context and arguments, and closes it.
func (a *App) withDB(run func(ctx context.Context, d *sqlx.DB, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		d, err := a.OpenDB(cmd.Context())
		if err != nil {
			return err
		}
		defer d.Close()
		return run(cmd.Context(), d, args)
	}
}

// withCampaigns is withDB for commands that work on the campaign store.
func (a *App) withCampaigns(run func(ctx context.Context, st *campaigns.Store, args []string) error) func(*cobra.Command, []string) error {
	return a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
		return run(ctx, campaigns.NewStore(d, campaigns.WithLinter(channelcheck.Linter())), args)
	})
}

// writeTable writes list as the commands' aligned columns: the tab-separated
// header, then the line row makes of each item.
func writeTable[T any](w io.Writer, header string, list []T, row func(T) string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, x := range list {
		fmt.Fprintln(tw, row(x))
	}
	return tw.Flush()
}

// printJSON writes v as indented JSON, as the commands' --json output.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
