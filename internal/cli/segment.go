package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/scheduler"
)

func (a *App) segmentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "segment",
		Short: "List saved segments and count their members live",
		Long: "Segments are kind: segment files beside the campaigns; lint and apply them\n" +
			"with nudge campaign lint / apply (segments are applied before campaigns).",
	}
	cmd.AddCommand(a.segmentCountCmd(), a.segmentListCmd())
	return cmd
}

func (a *App) segmentCountCmd() *cobra.Command {
	var asJSON bool
	var sample int
	cmd := &cobra.Command{
		Use:   "count NAME",
		Short: "Count a segment's members now, split by first reachable channel, with a sample",
		Args:  cobra.ExactArgs(1),
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			c, err := scheduler.CountNamed(ctx, d, args[0], a.flowClock().Now(), sample)
			if errors.Is(err, campaigns.ErrSegmentNotFound) {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("nudge: segment %q not found", args[0])}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.Stdout, c)
			}
			fmt.Fprintf(a.Stdout, "%s: %d members (%.0f ms)\n", c.Segment, c.Total, c.Ms)
			if err := writeTable(a.Stdout, "FIRST CHANNEL\tMEMBERS", c.ByChannel, func(ch scheduler.ChannelCount) string {
				return fmt.Sprintf("%s\t%d", channelLabel(ch.Channel), ch.Members)
			}); err != nil {
				return err
			}
			if len(c.Sample) > 0 {
				fmt.Fprintln(a.Stdout, "sample:")
				for _, m := range c.Sample {
					fmt.Fprintf(a.Stdout, "  %d  %q\n", m.ID, m.Name)
				}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&sample, "sample", scheduler.SampleSize, "members to show (ids and masked names)")
	return cmd
}

// channelLabel names the part of the split reachable on none of the channels.
func channelLabel(ch string) string {
	if ch == "" {
		return "(none reachable)"
	}
	return ch
}

func (a *App) segmentListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List segments with their live counts",
		Args:  cobra.NoArgs,
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, _ []string) error {
			list, err := scheduler.SegmentSummaries(ctx, d, a.flowClock().Now())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.Stdout, list)
			}
			return writeTable(a.Stdout, "ID\tVERSION\tTOPIC\tMEMBERS\tNAME", list, func(s scheduler.SegmentSummary) string {
				return fmt.Sprintf("%s\tv%d\t%s\t%d\t%s", s.ID, s.Number, s.Topic, s.Count.Total, s.Name)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
