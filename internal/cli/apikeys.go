package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/users"
)

func (a *App) apikeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikeys",
		Short: "Create, list and revoke API keys for the shop's backend",
	}
	withStore := func(run func(ctx context.Context, d *sqlx.DB, s *apikeys.Store, args []string) error) func(*cobra.Command, []string) error {
		return a.withDB(func(ctx context.Context, d *sqlx.DB, args []string) error {
			return run(ctx, d, apikeys.NewStore(d, nil), args)
		})
	}
	var role string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a key and print it once (only its hash is stored)",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, d *sqlx.DB, s *apikeys.Store, args []string) error {
			k, secret, err := s.Create(ctx, args[0], users.Role(role))
			if err != nil {
				return err
			}
			if err := audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: "apikey.create", Subject: "key:" + k.Name,
				Detail: map[string]any{"role": k.Role, "prefix": k.Prefix}}); err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, secret)
			fmt.Fprintln(a.Stderr, "Store this key now: it cannot be shown again. Send it as Authorization: Bearer <key>.")
			return nil
		}),
	}
	create.Flags().StringVar(&role, "role", string(users.Admin), "what the key may do: admin, marketer, manager or viewer (see README, Roles)")
	cmd.AddCommand(
		create,
		&cobra.Command{
			Use:   "list",
			Short: "List keys (name, prefix, created, last used, revoked)",
			Args:  cobra.NoArgs,
			RunE: withStore(func(ctx context.Context, d *sqlx.DB, s *apikeys.Store, _ []string) error {
				ks, err := s.List(ctx)
				if err != nil {
					return err
				}
				return writeTable(a.Stdout, "NAME\tROLE\tPREFIX\tCREATED\tLAST USED\tREVOKED", ks, func(k apikeys.Key) string {
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", k.Name, k.Role, k.Prefix, apikeyStamp(&k.CreatedAt), apikeyStamp(k.LastUsedAt), apikeyStamp(k.RevokedAt))
				})
			}),
		},
		&cobra.Command{
			Use:   "revoke NAME|PREFIX",
			Short: "Revoke a live key at once",
			Args:  cobra.ExactArgs(1),
			RunE: withStore(func(ctx context.Context, d *sqlx.DB, s *apikeys.Store, args []string) error {
				if err := s.Revoke(ctx, args[0]); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				if err := audit.Record(ctx, d, a.flowClock().Now(), audit.Event{Action: "apikey.revoke", Subject: "key:" + args[0]}); err != nil {
					return err
				}
				fmt.Fprintln(a.Stdout, "revoked", args[0])
				return nil
			}),
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
