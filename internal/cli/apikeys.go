package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/apikeys"
)

func (a *App) apikeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikeys",
		Short: "Create, list and revoke API keys for the shop's backend",
	}
	withStore := func(cmd *cobra.Command, fn func(s *apikeys.Store) error) error {
		d, err := a.OpenDB(cmd.Context())
		if err != nil {
			return err
		}
		defer d.Close()
		return fn(apikeys.NewStore(d, nil))
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "create NAME",
			Short: "Create a key and print it once (only its hash is stored)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd, func(s *apikeys.Store) error {
					_, secret, err := s.Create(cmd.Context(), args[0])
					if err != nil {
						return err
					}
					fmt.Fprintln(a.Stdout, secret)
					fmt.Fprintln(a.Stderr, "Store this key now: it cannot be shown again. Send it as Authorization: Bearer <key>.")
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List keys (name, prefix, created, last used, revoked)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withStore(cmd, func(s *apikeys.Store) error {
					ks, err := s.List(cmd.Context())
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tPREFIX\tCREATED\tLAST USED\tREVOKED")
					for _, k := range ks {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.Prefix, apikeyStamp(&k.CreatedAt), apikeyStamp(k.LastUsedAt), apikeyStamp(k.RevokedAt))
					}
					return tw.Flush()
				})
			},
		},
		&cobra.Command{
			Use:   "revoke NAME|PREFIX",
			Short: "Revoke a live key at once",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd, func(s *apikeys.Store) error {
					if err := s.Revoke(cmd.Context(), args[0]); err != nil {
						return fmt.Errorf("%s: %w", args[0], err)
					}
					fmt.Fprintln(a.Stdout, "revoked", args[0])
					return nil
				})
			},
		},
	)
	return cmd
}

func apikeyStamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func subscribersJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
