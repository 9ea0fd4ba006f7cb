package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/internal/config"
)

// channelsCmd is `nudge channels …`: provider-side setup of the channel
// accounts configured in the environment.
func (a *App) channelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channels",
		Short: "Set up messenger channel accounts (webhooks)",
	}
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Register Nudge's webhook with a provider",
	}
	setup.AddCommand(a.setupTelegramCmd(), a.setupViberCmd())
	cmd.AddCommand(setup, a.syncCmd())
	return cmd
}

// setupAccount checks --account: DefaultAccount or one listed in
// NUDGE_<env>_ACCOUNTS, the accounts serve mounts webhooks for.
func (a *App) setupAccount(env, account string) error {
	for _, acc := range channels.LoadAccounts(a.Env, env) {
		if acc == account {
			return nil
		}
	}
	if err := a.Env.Err(); err != nil {
		return &ExitError{Code: 2, Msg: "configuration:\n" + err.Error()}
	}
	return &ExitError{Code: 2, Msg: fmt.Sprintf("--account %s: not configured (%s lists the accounts besides %s)",
		account, channels.AccountsVar(env), channels.DefaultAccount)}
}

// setupTarget is what nudge channels setup registers for channel k's
// account: its configuration, loaded by load, and its webhook URL. A
// problem with the account, the variables or an unset token stops the setup
// with exit code 2.
func setupTarget[C interface{ Enabled() bool }](a *App, k channels.Kind, account, url string, load func(*config.Env, string) C) (C, string, error) {
	var none C
	env := channelEnv[k]
	if err := a.setupAccount(env, account); err != nil {
		return none, "", err
	}
	cfg := load(a.Env, account)
	if err := a.Env.Err(); err != nil {
		return none, "", &ExitError{Code: 2, Msg: "configuration:\n" + err.Error()}
	}
	if !cfg.Enabled() {
		return none, "", &ExitError{Code: 2, Msg: channels.EnvVar(env, account, "TOKEN") + " is not set"}
	}
	hook, err := a.webhookURL(k, account, url)
	if err != nil {
		return none, "", err
	}
	return cfg, hook, nil
}

// webhookURL is the public webhook address of channel k's account:
// override (--url) or $NUDGE_BASE_URL followed by the path serve mounts.
func (a *App) webhookURL(k channels.Kind, account, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	core, err := a.Core()
	if err != nil {
		return "", err
	}
	return channels.WebhookURL(core.BaseURL, k, account), nil
}

func (a *App) setupTelegramCmd() *cobra.Command {
	var url, account string
	var drop bool
	var maxConn int
	cmd := &cobra.Command{
		Use:   "telegram",
		Short: "Call setWebhook with the secret token and the update types Nudge handles",
		Long: `Registers $NUDGE_BASE_URL` + channels.WebhookPath(channels.Telegram, channels.DefaultAccount) + ` (or --url) with the Bot API
using NUDGE_TELEGRAM_TOKEN and NUDGE_TELEGRAM_WEBHOOK_SECRET, the bot "nudge serve"
runs. --account names another bot listed in NUDGE_TELEGRAM_ACCOUNTS: its
NUDGE_TELEGRAM_<ACCOUNT>_… variables and its webhook /webhooks/telegram/<account>. Telegram then sends the secret in X-Telegram-Bot-Api-Secret-Token with
every update, and only message, callback_query and my_chat_member updates.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, hook, err := setupTarget(a, channels.Telegram, account, url, telegram.LoadConfig)
			if err != nil {
				return err
			}
			c := telegram.New(cfg, nil)
			ctx := cmd.Context()
			err = c.SetWebhook(ctx, telegram.WebhookOptions{URL: hook, SecretToken: cfg.WebhookSecret, AllowedUpdates: telegram.AllowedUpdates, MaxConnections: maxConn, DropPendingUpdates: drop})
			if err != nil {
				return fmt.Errorf("setWebhook: %w", err)
			}
			info, err := c.GetWebhookInfo(ctx)
			if err != nil {
				return fmt.Errorf("getWebhookInfo: %w", err)
			}
			fmt.Fprintf(a.Stdout, "telegram webhook set: %s\nallowed updates: %s\npending updates: %d\n", info.URL, strings.Join(info.AllowedUpdates, ", "), info.PendingUpdateCount)
			if info.LastErrorMessage != "" {
				fmt.Fprintf(a.Stdout, "last delivery error: %s\n", info.LastErrorMessage)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "webhook URL (default $NUDGE_BASE_URL"+channels.WebhookPath(channels.Telegram, channels.DefaultAccount)+")")
	cmd.Flags().StringVar(&account, "account", channels.DefaultAccount, "the bot to register: main or one listed in NUDGE_TELEGRAM_ACCOUNTS")
	cmd.Flags().BoolVar(&drop, "drop-pending", false, "drop updates queued while no webhook was set")
	cmd.Flags().IntVar(&maxConn, "max-connections", 0, "parallel webhook connections, 1-100 (Telegram default 40)")
	return cmd
}

func (a *App) setupViberCmd() *cobra.Command {
	var url, account string
	cmd := &cobra.Command{
		Use:   "viber",
		Short: "Call set_webhook with the event types Nudge handles",
		Long: `Registers $NUDGE_BASE_URL` + channels.WebhookPath(channels.Viber, channels.DefaultAccount) + ` (or --url) with Viber using
NUDGE_VIBER_TOKEN, the bot "nudge serve" runs (--account: another bot listed in
NUDGE_VIBER_ACCOUNTS, with its NUDGE_VIBER_<ACCOUNT>_… variables). Viber probes the URL at once
with a signed request, so "nudge serve" must already be reachable there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, hook, err := setupTarget(a, channels.Viber, account, url, viber.LoadConfig)
			if err != nil {
				return err
			}
			if err := viber.New(cfg, nil).SetWebhook(cmd.Context(), hook); err != nil {
				return fmt.Errorf("set_webhook: %w", err)
			}
			fmt.Fprintf(a.Stdout, "viber webhook set: %s\nevent types: %s\n", hook, strings.Join(viber.EventTypes, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "webhook URL (default $NUDGE_BASE_URL"+channels.WebhookPath(channels.Viber, channels.DefaultAccount)+")")
	cmd.Flags().StringVar(&account, "account", channels.DefaultAccount, "the bot to register: main or one listed in NUDGE_VIBER_ACCOUNTS")
	return cmd
}
