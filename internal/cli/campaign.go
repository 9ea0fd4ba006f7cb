package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/campaigns/preview"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/whatsapp/catalogue"
)

func (a *App) campaignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Lint, apply, inspect and preview campaign files",
	}
	cmd.AddCommand(
		a.campaignLintCmd(),
		a.campaignSchemaCmd(),
		a.campaignApplyCmd(),
		a.campaignListCmd(),
		a.campaignShowCmd(),
		a.campaignDiffCmd(),
		a.campaignArchiveCmd(),
		a.campaignPreviewCmd(),
		a.campaignFunnelCmd(),
	)
	return cmd
}

func (a *App) campaignLintCmd() *cobra.Command {
	var rules, asJSON bool
	cmd := &cobra.Command{
		Use:   "lint PATH...",
		Short: "Check campaign files and report every problem with its position",
		Long: "Check campaign files (directories expand to their *.yaml and *.yml files).\n" +
			"Exit status: 0 clean or only warnings, 1 problems found, 2 usage error (no such file).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if rules {
				for _, r := range campaigns.Rules {
					fmt.Fprintf(a.Stdout, "%-26s %s\n", r.ID, r.Doc)
				}
				return nil
			}
			if len(args) == 0 {
				return &ExitError{Code: 2, Msg: "usage: nudge campaign lint PATH..."}
			}
			files, errs, err := a.loadCampaignFiles(args, a.lintCatalogue(cmd.Context()))
			if err != nil {
				return err
			}
			if asJSON {
				if errs == nil {
					errs = []campaigns.LintError{}
				}
				if err := json.NewEncoder(a.Stdout).Encode(map[string]any{"files": len(files), "problems": errs}); err != nil {
					return err
				}
				if len(campaigns.Errors(errs)) > 0 {
					return &ExitError{Code: 1}
				}
				return nil
			}
			if len(errs) == 0 {
				fmt.Fprintf(a.Stdout, "%d campaign %s: no problems\n", len(files), plural(len(files), "file", "files"))
				return nil
			}
			writeLintReport(a.Stdout, files, errs)
			hard := campaigns.Errors(errs)
			if len(hard) == 0 { // warnings only: the files may be applied
				fmt.Fprintf(a.Stdout, "%d %s in %d %s\n", len(errs), plural(len(errs), "warning", "warnings"), len(files), plural(len(files), "file", "files"))
				return nil
			}
			return &ExitError{Code: 1, Msg: fmt.Sprintf("%d %s in %d %s", len(hard), plural(len(hard), "problem", "problems"), len(files), plural(len(files), "file", "files"))}
		},
	}
	cmd.Flags().BoolVar(&rules, "rules", false, "list the lint rules and exit")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {\"files\": N, \"problems\": [{file, line, col, rule, message, hint}]}")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// loadCampaignFiles loads and lints every file named by args, checking
// WhatsApp template references against wa (nil: not at all) and the
// accounts of channels whose NUDGE_<CHANNEL>_ACCOUNTS is set (rule
// unknown-account).
func (a *App) loadCampaignFiles(args []string, wa *campaigns.WhatsAppCatalogue) ([]*campaigns.File, []campaigns.LintError, error) {
	files, err := campaigns.LoadAll(args...)
	if err != nil {
		return nil, nil, &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: %v", err)}
	}
	l := channelcheck.Linter()
	l.WhatsApp = wa
	l.Accounts = listedAccounts(a.Env)
	if err := a.Env.Err(); err != nil {
		return nil, nil, &ExitError{Code: 2, Msg: "configuration:\n" + err.Error()}
	}
	return files, l.Lint(files), nil
}

// writeLintReport prints errs with the lines of files they point at.
func writeLintReport(w io.Writer, files []*campaigns.File, errs []campaigns.LintError) {
	sources := map[string][]byte{}
	for _, f := range files {
		sources[f.Path] = f.Source
	}
	_ = campaigns.WriteReport(w, errs, sources)
}

// lintCatalogue is the synced WhatsApp template catalogue when
// NUDGE_DATABASE_URL is set and reachable, else one saying why it is not
// (lint then warns that the references were not checked).
func (a *App) lintCatalogue(ctx context.Context) *campaigns.WhatsAppCatalogue {
	if a.Env.String("NUDGE_DATABASE_URL", "") == "" {
		return &campaigns.WhatsAppCatalogue{Unavailable: "NUDGE_DATABASE_URL is not set, so the synced catalogue could not be read"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := a.OpenDB(ctx)
	if err != nil {
		return &campaigns.WhatsAppCatalogue{Unavailable: "the database is unreachable: " + err.Error()}
	}
	defer d.Close()
	return catalogue.ForLint(ctx, d)
}

func (a *App) campaignSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the campaign format (for editors)",
		Long: "Print the JSON Schema (draft 2020-12) of campaign files. Save it and point\n" +
			"yaml-language-server at it, e.g. with a first line\n" +
			"  # yaml-language-server: $schema=./campaign.schema.json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := a.Stdout.Write(campaigns.Schema())
			return err
		},
	}
}

func notFound(err error, what string) error {
	if errors.Is(err, campaigns.ErrNotFound) {
		return &ExitError{Code: 1, Msg: fmt.Sprintf("nudge: %s not found", what)}
	}
	return err
}

func (a *App) campaignApplyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apply PATH...",
		Short: "Lint and store campaign (and segment) files as new immutable versions",
		Long: "Lint every file first and refuse all of them on any problem. Then store each\n" +
			"as a version keyed by its content hash: the same content is the same version\n" +
			"(nothing new is written), changed content gets the next number and becomes\n" +
			"current. Runs already started stay on the version they started with.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &ExitError{Code: 2, Msg: "usage: nudge campaign apply PATH..."}
			}
			// Apply checks template references only against a catalogue it
			// can read: an unsynced install still applies.
			wa := a.lintCatalogue(cmd.Context())
			if wa.Unavailable != "" {
				wa = nil
			}
			files, errs, err := a.loadCampaignFiles(args, wa)
			if err != nil {
				return err
			}
			if len(errs) > 0 {
				writeLintReport(a.Stdout, files, errs)
				return &ExitError{Code: 1, Msg: fmt.Sprintf("nothing applied: %d %s", len(errs), plural(len(errs), "problem", "problems"))}
			}
			return a.withCampaigns(func(ctx context.Context, st *campaigns.Store, _ []string) error {
				// Segments first: a campaign may name one of them.
				for _, segments := range []bool{true, false} {
					for _, f := range files {
						if f.IsSegment() != segments {
							continue
						}
						name, number, version, created, err := applyFile(ctx, st, f)
						if err != nil {
							return err
						}
						what := "unchanged"
						if created {
							what = "new version"
						}
						fmt.Fprintf(a.Stdout, "%s: %s v%d (%s) %s\n", f.Path, name, number, version, what)
					}
				}
				return nil
			})(cmd, args)
		},
	}
}

// applyFile stores f as a new version of its segment or campaign and says
// what it stored: its name ("segment <id>" or the campaign id), the
// version's number and hash, and whether the version is new.
func applyFile(ctx context.Context, st *campaigns.Store, f *campaigns.File) (name string, number int, version string, created bool, err error) {
	if f.IsSegment() {
		v, created, err := st.ApplySegment(ctx, f)
		return "segment " + v.ID, v.Number, v.Version, created, err
	}
	v, created, err := st.Apply(ctx, f)
	return v.CampaignID, v.Number, v.Version, created, err
}

func (a *App) campaignListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List campaigns with their current version",
		Args:  cobra.NoArgs,
		RunE: a.withCampaigns(func(ctx context.Context, st *campaigns.Store, _ []string) error {
			list, err := st.List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.Stdout).Encode(list)
			}
			return writeTable(a.Stdout, "ID\tVERSION\tHASH\tVERSIONS\tSTATUS\tTOPIC\tUPDATED\tNAME", list, func(c campaigns.Summary) string {
				status := "active"
				if c.ArchivedAt != nil {
					status = "archived"
				}
				return fmt.Sprintf("%s\tv%d\t%s\t%d\t%s\t%s\t%s\t%s", c.ID, c.Number, c.Version, c.Versions, status, c.Topic, c.UpdatedAt.UTC().Format(time.RFC3339), c.Name)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *App) campaignShowCmd() *cobra.Command {
	var version string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print a campaign version's YAML source (the current one by default)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withCampaigns(func(ctx context.Context, st *campaigns.Store, args []string) error {
			v, err := st.Get(ctx, args[0], version)
			if err != nil {
				return notFound(err, fmt.Sprintf("campaign %q version %q", args[0], version))
			}
			if asJSON {
				return json.NewEncoder(a.Stdout).Encode(v)
			}
			vs, err := st.Versions(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "# campaign %s v%d (%s), applied %s from %s", v.CampaignID, v.Number, v.Version.Version, v.CreatedAt.UTC().Format(time.RFC3339), v.SourcePath)
			if v.AppliedBy != "" {
				fmt.Fprintf(a.Stdout, " by %s", v.AppliedBy)
			}
			if v.Current {
				fmt.Fprint(a.Stdout, ", current")
			}
			fmt.Fprintf(a.Stdout, "; %d %s\n", len(vs), plural(len(vs), "version", "versions"))
			_, err = fmt.Fprint(a.Stdout, v.Source)
			return err
		}),
	}
	cmd.Flags().StringVar(&version, "version", "", "version: number (3) or content hash; default current")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version with its definition as JSON")
	return cmd
}

func (a *App) campaignDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff ID V1 V2",
		Short: "Unified diff of the YAML sources of two versions (numbers or hashes)",
		Args:  cobra.ExactArgs(3),
		RunE: a.withCampaigns(func(ctx context.Context, st *campaigns.Store, args []string) error {
			d, err := st.Diff(ctx, args[0], args[1], args[2])
			if err != nil {
				return notFound(err, fmt.Sprintf("campaign %q version %s or %s", args[0], args[1], args[2]))
			}
			_, err = fmt.Fprint(a.Stdout, d)
			return err
		}),
	}
}

func (a *App) campaignArchiveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "archive ID",
		Short: "Stop starting new runs of a campaign (started runs finish; apply brings it back)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withCampaigns(func(ctx context.Context, st *campaigns.Store, args []string) error {
			if err := st.Archive(ctx, args[0]); err != nil {
				return notFound(err, fmt.Sprintf("campaign %q", args[0]))
			}
			fmt.Fprintf(a.Stdout, "%s archived\n", args[0])
			return nil
		}),
	}
}

func (a *App) campaignPreviewCmd() *cobra.Command {
	var (
		subscriber, channel, step, at, version, payload string
		asJSON                                          bool
	)
	cmd := &cobra.Command{
		Use:   "preview ID --subscriber EXT_ID",
		Short: "Show exactly what a subscriber would receive from a campaign step, or why nothing",
		Long: "Render a send step for one subscriber as the worker would: the channel the\n" +
			"send-time gate picks and why (consent, identity, 24h window, quiet hours,\n" +
			"frequency cap), the text, buttons and image. Nothing is sent or written.\n" +
			"It evaluates the campaign's audience as the scheduler does and says which\n" +
			"condition leaves the subscriber out. Exits 1 when the message does not render.\n" +
			"The payload of an event trigger is the subscriber's newest such event;\n" +
			"give --payload for api triggers.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if subscriber == "" {
				return &ExitError{Code: 2, Msg: "nudge: --subscriber EXT_ID is required"}
			}
			req := preview.Request{CampaignID: args[0], Version: version, Subscriber: subscriber, Channel: channels.Kind(channel), Step: step}
			if channel != "" && !req.Channel.Valid() {
				return &ExitError{Code: 2, Msg: fmt.Sprintf("nudge: --channel: unknown channel %q", channel)}
			}
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return &ExitError{Code: 2, Msg: "nudge: --at must be an RFC 3339 time such as 2026-11-20T18:00:00+03:00"}
				}
				req.At = t
			}
			if payload != "" {
				if err := json.Unmarshal([]byte(payload), &req.Payload); err != nil || req.Payload == nil {
					return &ExitError{Code: 2, Msg: "nudge: --payload must be a JSON object"}
				}
			}
			d, err := a.OpenDB(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			p := preview.New(campaigns.NewStore(d), d, nil, a.flowClock().Now)
			res, err := p.Preview(cmd.Context(), req)
			if err != nil {
				if errors.Is(err, preview.ErrNoSubscriber) || errors.Is(err, preview.ErrNoStep) {
					return &ExitError{Code: 1, Msg: "nudge: " + err.Error()}
				}
				return notFound(err, fmt.Sprintf("campaign %q", args[0]))
			}
			if asJSON {
				err = printJSON(a.Stdout, res)
			} else {
				err = preview.WriteText(a.Stdout, res)
			}
			if err != nil {
				return err
			}
			// A message that does not render is an error of the campaign
			// (or the --payload): not an answer to "what would be sent".
			if res.RenderError != "" {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("nudge: campaign %s: the message does not render on %s: %s", res.CampaignID, res.RenderedFor, res.RenderError)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&subscriber, "subscriber", "", "the subscriber's external id (required)")
	cmd.Flags().StringVar(&channel, "channel", "", "preview this channel only (default: the campaign's preference order)")
	cmd.Flags().StringVar(&step, "step", "", "send step id (default: the first send step)")
	cmd.Flags().StringVar(&at, "at", "", "preview as of this time, RFC 3339 (default: now)")
	cmd.Flags().StringVar(&version, "version", "", "campaign version: number or hash (default: current)")
	cmd.Flags().StringVar(&payload, "payload", "", "trigger payload as a JSON object")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
