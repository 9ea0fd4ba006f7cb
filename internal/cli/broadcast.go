package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/scheduler"
)

func (a *App) broadcastCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broadcast",
		Short: "Send a campaign once to its audience: dry-run, create, list, show, cancel, pause, resume",
		Long: "A broadcast sends a campaign's flow once to everyone in its audience, at a chosen\n" +
			"instant or at a wall time in each subscriber's own zone (--local). Run dry-run\n" +
			"first: it counts who would get it on which channel and whom policy would skip.\n" +
			"The scheduler (leader) starts it when due.",
	}
	cmd.AddCommand(a.broadcastDryRunCmd(), a.broadcastCreateCmd(), a.broadcastListCmd(),
		a.broadcastByIDCmd("show", "Print one broadcast", (*scheduler.Broadcasts).Get),
		a.broadcastByIDCmd("cancel", "Cancel a broadcast that has not started", (*scheduler.Broadcasts).Cancel),
		a.broadcastByIDCmd("pause", "Pause a running broadcast: no further runs are created", (*scheduler.Broadcasts).Pause),
		a.broadcastByIDCmd("resume", "Resume a paused broadcast", (*scheduler.Broadcasts).Resume))
	return cmd
}

// withBroadcasts is withDB for the broadcast commands, on the configured clock.
func (a *App) withBroadcasts(run func(ctx context.Context, b *scheduler.Broadcasts, args []string) error) func(*cobra.Command, []string) error {
	return a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
		cfg := scheduler.LoadConfig(a.Env)
		if err := a.Env.Err(); err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		err := run(ctx, scheduler.NewBroadcasts(d, a.flowClock().Now, a.Log, cfg.DefaultTimeZone), args)
		var he *httpx.Error
		switch {
		case errors.As(err, &he):
			return &ExitError{Code: 1, Msg: "nudge: " + he.Error()}
		case errors.Is(err, scheduler.ErrBroadcastNotFound):
			return &ExitError{Code: 1, Msg: "nudge: " + err.Error()}
		case errors.Is(err, scheduler.ErrIdempotencyConflict):
			return &ExitError{Code: 1, Msg: "nudge: --idempotency-key: " + err.Error()}
		}
		return err
	})
}

// broadcastFlags are the flags that describe a broadcast.
type broadcastFlags struct {
	at     string
	local  bool
	asJSON bool
}

func (f *broadcastFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.at, "at", "", "when: an RFC 3339 instant (default now), or with --local a wall time such as 2026-12-24T18:00")
	cmd.Flags().BoolVar(&f.local, "local", false, "send at --at's wall time in each subscriber's own time zone")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
}

func (f *broadcastFlags) request(campaign string) scheduler.BroadcastRequest {
	return scheduler.BroadcastRequest{Campaign: campaign, SendAt: f.at, LocalTime: f.local}
}

func (a *App) broadcastDryRunCmd() *cobra.Command {
	var f broadcastFlags
	cmd := &cobra.Command{
		Use:   "dry-run CAMPAIGN",
		Short: "Count who would get a broadcast on which channel, and whom policy would skip and why",
		Args:  cobra.ExactArgs(1),
		RunE: a.withBroadcasts(func(ctx context.Context, b *scheduler.Broadcasts, args []string) error {
			d, err := b.DryRun(ctx, f.request(args[0]))
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(a.Stdout, d)
			}
			fmt.Fprintf(a.Stdout, "campaign %s %s, audience %d: %d would get it, %d held out, %d skipped (%d ms)\n",
				d.CampaignID, d.CampaignVersion, d.Audience, d.Send, d.Holdout, d.Audience-d.Send-d.Holdout, d.ElapsedMS)
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			for _, k := range sortedKeys(d.Channels) {
				fmt.Fprintf(tw, "  send\t%s\t%d\n", k, d.Channels[k])
			}
			for _, k := range sortedKeys(d.Skipped) {
				fmt.Fprintf(tw, "  skip\t%s\t%d\n", k, d.Skipped[k])
			}
			return tw.Flush()
		}),
	}
	f.add(cmd)
	return cmd
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *App) broadcastCreateCmd() *cobra.Command {
	var f broadcastFlags
	var key string
	cmd := &cobra.Command{
		Use:   "create CAMPAIGN",
		Short: "Schedule a broadcast of a campaign's current version",
		Args:  cobra.ExactArgs(1),
		RunE: a.withBroadcasts(func(ctx context.Context, b *scheduler.Broadcasts, args []string) error {
			bc, created, err := b.Create(ctx, f.request(args[0]), key)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(a.Stdout, bc)
			}
			what := "created"
			if !created {
				what = "exists already (same --idempotency-key)"
			}
			fmt.Fprintf(a.Stdout, "broadcast %d of %s %s at %s %s\n", bc.ID, bc.CampaignID, bc.CampaignVersion, bc.When(), what)
			return nil
		}),
	}
	f.add(cmd)
	cmd.Flags().StringVar(&key, "idempotency-key", "", "a key that makes the command safe to repeat: the same key and request create one broadcast")
	return cmd
}

func (a *App) broadcastListCmd() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List broadcasts, newest first",
		Args:  cobra.NoArgs,
		RunE: a.withBroadcasts(func(ctx context.Context, b *scheduler.Broadcasts, _ []string) error {
			list, err := b.List(ctx, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.Stdout, list)
			}
			return writeTable(a.Stdout, "ID\tCAMPAIGN\tVERSION\tSEND AT\tSTATE\tRUNS\tCREATED\tBY", list, func(bc scheduler.Broadcast) string {
				return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s", bc.ID, bc.CampaignID, bc.CampaignVersion, bc.When(), bc.State, bc.Runs,
					bc.CreatedAt.UTC().Format(time.RFC3339), bc.CreatedBy)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	return cmd
}

func broadcastArg(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: %q is not a broadcast id", s)}
	}
	return id, nil
}

func (a *App) printBroadcast(bc scheduler.Broadcast, asJSON bool) error {
	if asJSON {
		return printJSON(a.Stdout, bc)
	}
	fmt.Fprintf(a.Stdout, "broadcast %d: %s %s at %s, %s, %d runs, created %s by %s\n", bc.ID, bc.CampaignID, bc.CampaignVersion,
		bc.When(), bc.State, bc.Runs, bc.CreatedAt.UTC().Format(time.RFC3339), bc.CreatedBy)
	return nil
}

// broadcastByIDCmd is a command on the broadcast ID: it prints what op,
// reading or steering it, returns.
func (a *App) broadcastByIDCmd(use, short string, op func(*scheduler.Broadcasts, context.Context, int64) (scheduler.Broadcast, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: a.withBroadcasts(func(ctx context.Context, b *scheduler.Broadcasts, args []string) error {
			id, err := broadcastArg(args[0])
			if err != nil {
				return err
			}
			bc, err := op(b, ctx, id)
			if err != nil {
				return err
			}
			return a.printBroadcast(bc, asJSON)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
