package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
)

func (a *App) campaignFunnelCmd() *cobra.Command {
	var version string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "funnel ID",
		Short: "Print a campaign's funnel, its goal against the holdout and its split variants",
		Long: "Print the funnel of a campaign version (every version by default) as the dashboard\n" +
			"computes it: sent, delivered, read, clicked, replied, handed off, the goal rate with its uplift\n" +
			"over the holdout, and for each split step the funnel of each variant with the\n" +
			"difference of its goal rate from the first variant's (95% confidence interval).",
		Args: cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			id := args[0]
			if version != "" {
				v, err := campaigns.NewStore(d).Get(ctx, id, version)
				if err != nil {
					return notFound(err, fmt.Sprintf("campaign %q version %q", id, version))
				}
				version = v.Version.Version
			}
			an := analytics.New(d)
			vs, err := an.Versions(ctx, id)
			if err != nil {
				return err
			}
			if len(vs) == 0 {
				return notFound(campaigns.ErrNotFound, fmt.Sprintf("campaign %q", id))
			}
			f, err := an.Funnel(ctx, id, version)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.Stdout, f)
			}
			return writeFunnel(a.Stdout, f)
		}),
	}
	cmd.Flags().StringVar(&version, "version", "", "version: number (3) or content hash; default every version")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the funnel as JSON")
	return cmd
}

// writeFunnel prints f as `nudge campaign funnel` does.
func writeFunnel(w io.Writer, f analytics.Funnel) error {
	which := "every version"
	if f.Version != "" {
		which = "version " + f.Version
	}
	fmt.Fprintf(w, "%s (%s): %s\n", f.CampaignID, which, f.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, s := range f.Steps() {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t\n", s.Label, s.N, 100*s.Rate)
	}
	fmt.Fprintf(tw, "Holdout (no messages)\t%d\t\t\n", f.Holdout)
	fmt.Fprintf(tw, "Skipped by policy\t%d\t\t\n", f.Skipped)
	if err := tw.Flush(); err != nil {
		return err
	}
	if g := f.Goal; g != nil {
		fmt.Fprintf(w, "goal %s within %s: treated %d/%d (%.1f%%), holdout %d/%d (%.1f%%)", g.Event, g.Window,
			g.TreatedReached, g.TreatedRuns, 100*g.TreatedRate, g.HoldoutReached, g.HoldoutRuns, 100*g.HoldoutRate)
		if g.Uplift != nil {
			fmt.Fprintf(w, ", uplift %s", interval(g.Uplift, g.UpliftLo, g.UpliftHi))
		}
		fmt.Fprintln(w)
	}
	if len(f.Clicks) > 0 {
		fmt.Fprintln(w, "tracked links by step and channel (messages; bots are link previews, not counted as clicks):")
		if err := writeTable(w, "STEP\tCHANNEL\tSENT\tWITH LINKS\tCLICKED\tRATE\tCLICKS\tBOTS", f.Clicks, func(c analytics.ClickUse) string {
			return fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%.1f%%\t%d\t%d", c.Step, c.Channel, c.Sent, c.WithLinks, c.Clicked,
				100*c.Rate(), c.Clicks, c.BotClicks)
		}); err != nil {
			return err
		}
	}
	for _, sp := range f.Splits {
		fmt.Fprintf(w, "split %s:\n", sp.Step)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VARIANT\tSHARE\tGOTO\tRUNS\tSENT\tDELIVERED\tREAD\tREPLIED\tGOAL\tGOAL RATE\tVS FIRST")
		for i, v := range sp.Variants {
			vf := v.Funnel
			goal, goalRate, diff := "—", "—", "baseline"
			if g := vf.Goal; g != nil {
				goal, goalRate = fmt.Sprint(g.TreatedReached), fmt.Sprintf("%.1f%%", 100*g.TreatedRate)
			}
			if i > 0 {
				diff = "—"
				if v.Diff != nil {
					diff = interval(v.Diff, v.DiffLo, v.DiffHi)
				}
			}
			fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", v.ID, 100*v.Share, v.Goto,
				vf.Audience, vf.Sent, vf.Delivered, vf.Read, vf.Replied, goal, goalRate, diff)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// interval prints a difference of rates with its 95% confidence interval.
func interval(d, lo, hi *float64) string {
	return fmt.Sprintf("%+.1f pp (95%% CI %+.1f … %+.1f)", 100**d, 100**lo, 100**hi)
}
