package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/catalogue"
)

// syncCmd is `nudge channels sync …`: copy provider-side definitions Nudge
// checks campaigns against into Postgres.
func (a *App) syncCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Copy a provider's approved definitions (WhatsApp message templates) into Postgres",
	}
	cmd.AddCommand(a.syncWhatsAppCmd())
	return cmd
}

func (a *App) syncWhatsAppCmd() *cobra.Command {
	account := channels.DefaultAccount
	cmd := &cobra.Command{
		Use:   "whatsapp",
		Short: "Fetch the business account's message templates into the catalogue lint and preview check",
		Long: `Lists every message template of NUDGE_WHATSAPP_WABA_ID through the Graph API
(GET /{waba-id}/message_templates, all pages) with NUDGE_WHATSAPP_TOKEN and replaces
the account's copy in Postgres: name, language, category, status, parameter counts
and buttons. Templates deleted on WhatsApp disappear from the copy. Run it after
a template is approved or changed; "nudge campaign lint" then checks every
whatsapp_template against it.`,
		Args: cobra.NoArgs,
		RunE: a.withDB(func(ctx context.Context, d *sqlx.DB, _ []string) error {
			account = channels.Account(account)
			if !slices.Contains(channels.LoadAccounts(a.Env, "WHATSAPP"), account) {
				return &ExitError{Code: 2, Msg: fmt.Sprintf("--account %q is not configured: list it in %s", account, channels.AccountsVar("WHATSAPP"))}
			}
			cfg := whatsapp.LoadConfig(a.Env, account)
			if err := a.Env.Err(); err != nil {
				return &ExitError{Code: 2, Msg: "configuration:\n" + err.Error()}
			}
			if !cfg.Enabled() {
				return &ExitError{Code: 2, Msg: channels.EnvVar("WHATSAPP", account, "TOKEN") + " is not set"}
			}
			if cfg.WABAID == "" {
				return &ExitError{Code: 2, Msg: channels.EnvVar("WHATSAPP", account, "WABA_ID") + " is not set: it names the business account whose templates are synced"}
			}
			now := a.flowClock().Now()
			res, err := catalogue.Sync(ctx, d, account, cfg.WABAID, whatsapp.New(cfg, nil), now)
			if err != nil {
				return fmt.Errorf("sync whatsapp templates: %w", err)
			}
			fmt.Fprintf(a.Stdout, "whatsapp %s: %d %s (%d approved), %d removed\n", account, res.Templates,
				plural(res.Templates, "template", "templates"), res.Approved, res.Removed)
			return nil
		}),
	}
	cmd.Flags().StringVar(&account, "account", channels.DefaultAccount, "the WhatsApp account (number) whose business account is synced")
	return cmd
}
