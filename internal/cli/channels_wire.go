package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email"
	"github.com/nudge-engine/nudge/channels/instagram"
	"github.com/nudge-engine/nudge/channels/messenger"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/sms"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// accountKey names one configured account of a channel.
type accountKey struct {
	kind    channels.Kind
	account string
}

// channelSet is every configured provider account: its sender, its signed
// webhook at channels.WebhookPath(kind, account), its rate and its file
// fetcher. serve, worker, run and `nudge channels setup` all load it.
type channelSet struct {
	Registry *channels.Registry
	// Rates are keyed as the rate limiter reads them: the channel's
	// DefaultAccount by the channel, another account by
	// ratelimit.AccountRate.
	Rates    map[string]channels.Rate
	hooks    map[accountKey]http.Handler
	tracking *email.Tracking
	// fetchers download the files customers send, per account.
	fetchers map[accountKey]fileFetcher
}

// fileFetcher is a provider client that downloads an inbound attachment.
type fileFetcher interface {
	Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error)
}

// Fetch implements inbox.Fetcher with the client of the account the
// attachment came through.
func (cs *channelSet) Fetch(ctx context.Context, ch channels.Kind, account string, a channels.Attachment, max int64) (channels.File, error) {
	f, ok := cs.fetchers[accountKey{ch, channels.Account(account)}]
	if !ok {
		// SMS and email bring no attachments; any other kind here has no
		// configured provider.
		return channels.File{}, fmt.Errorf("no %s account %q configured to fetch attachments from", ch, channels.Account(account))
	}
	return f.Fetch(ctx, a, max)
}

// wired is one provider account built from its configuration.
type wired struct {
	sender  channels.Sender
	hook    http.Handler
	rate    channels.Rate
	fetcher fileFetcher // nil: the provider brings no attachments
}

// provider loads one account of a channel; ok is false when the account's
// enabling variable (key) is unset.
type provider struct {
	kind channels.Kind
	key  string // the variable that enables an account, named when a listed one lacks it
	load func(account string) (w wired, ok bool)
}

// keyLike are a channel's settings whose names end in its enabling key, so
// that NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN is not read as the token of an
// unlisted account "payment-provider".
var keyLike = map[channels.Kind][]string{channels.Telegram: {"PAYMENT_PROVIDER_TOKEN"}}

// channelEnv is each channel's infix of its variables: NUDGE_<infix>_…
// and NUDGE_<infix>_ACCOUNTS.
var channelEnv = map[channels.Kind]string{
	channels.Telegram: "TELEGRAM", channels.Viber: "VIBER", channels.VK: "VK", channels.WhatsApp: "WHATSAPP",
	channels.Messenger: "MESSENGER", channels.Instagram: "INSTAGRAM", channels.SMS: "TWILIO", channels.Email: "SMTP",
}

// listedAccounts are the accounts of each channel whose
// NUDGE_<CHANNEL>_ACCOUNTS is set, for lint where no provider is loaded
// (`nudge campaign lint`): there the configured accounts are known.
func listedAccounts(e *config.Env) map[string][]string {
	out := map[string][]string{}
	for k, env := range channelEnv {
		if e.String(channels.AccountsVar(env), "") != "" {
			out[string(k)] = channels.LoadAccounts(e, env)
		}
	}
	return out
}

// accounts are the configured accounts of each configured channel.
func (cs *channelSet) accounts() map[string][]string {
	out := map[string][]string{}
	for _, k := range cs.Registry.Kinds() {
		out[string(k)] = cs.Registry.Accounts(k)
	}
	return out
}

// loadChannels builds the provider accounts whose credentials are
// configured: for each channel its DefaultAccount (the unprefixed
// variables) and every account listed in NUDGE_<CHANNEL>_ACCOUNTS. A
// half-configured account, or a listed one without its enabling variable,
// is reported through e (naming the variable). baseURL is the install's
// public URL (NUDGE_BASE_URL), from which the SMS status callback and
// signature URL are derived unless set explicitly.
//
// pay answers Telegram's pre-checkouts and records payments (nil: every
// pre-checkout is refused).
func loadChannels(e *config.Env, baseURL string, sink channels.Sink, pay channels.Payments, log *slog.Logger, hc *http.Client) *channelSet {
	cs := &channelSet{Registry: channels.NewRegistry(), Rates: map[string]channels.Rate{}, hooks: map[accountKey]http.Handler{},
		fetchers: map[accountKey]fileFetcher{}}
	for _, p := range providers(e, baseURL, sink, pay, log, hc, cs) {
		env := channelEnv[p.kind]
		accounts := channels.LoadAccounts(e, env)
		channels.CheckUnlisted(e, env, p.key, accounts, keyLike[p.kind]...)
		for _, acc := range accounts {
			w, ok := p.load(acc)
			if !ok {
				if acc != channels.DefaultAccount {
					e.Fail(channels.EnvVar(env, acc, p.key), "is required: account %q is listed in %s", acc, channels.AccountsVar(env))
				}
				continue
			}
			k := accountKey{p.kind, acc}
			cs.Registry.AddAccount(acc, w.sender)
			cs.hooks[k] = w.hook
			rateKey := string(p.kind)
			if acc != channels.DefaultAccount {
				rateKey = ratelimit.AccountRate(string(p.kind), acc)
			}
			cs.Rates[rateKey] = w.rate
			if w.fetcher != nil {
				cs.fetchers[k] = w.fetcher
			}
		}
	}
	return cs
}

// withFetcher wires a client that also downloads customers' files.
func withFetcher[C interface {
	channels.Sender
	fileFetcher
}](client C, hook http.Handler, r channels.Rate) wired {
	return wired{client, hook, r, client}
}

// providers lists every channel's loader. A new channel adds one entry.
func providers(e *config.Env, baseURL string, sink channels.Sink, pay channels.Payments, log *slog.Logger, hc *http.Client, cs *channelSet) []provider {
	// One Meta app posts every number's, page's and Instagram account's
	// events to one callback: each is attributed by the id it names (filled
	// as the accounts load).
	numbers, pages, igAccounts := meta.Routes{}, meta.Routes{}, meta.Routes{}
	return []provider{
		{channels.Telegram, "TOKEN", func(acc string) (wired, bool) {
			c := telegram.LoadConfig(e, acc)
			return withFetcher(telegram.New(c, hc), telegram.NewPaymentsWebhook(c, sink, log, pay), c.Rate), c.Enabled()
		}},
		{channels.Viber, "TOKEN", func(acc string) (wired, bool) {
			c := viber.LoadConfig(e, acc)
			return withFetcher(viber.New(c, hc), viber.NewWebhook(c, sink, log), c.Rate), c.Enabled()
		}},
		{channels.VK, "TOKEN", func(acc string) (wired, bool) {
			c := vk.LoadConfig(e, acc)
			return withFetcher(vk.New(c, hc), vk.NewWebhook(c, sink, log), c.Rate), c.Enabled()
		}},
		{channels.WhatsApp, "TOKEN", func(acc string) (wired, bool) {
			c := whatsapp.LoadConfig(e, acc)
			if c.Routes = numbers; c.Enabled() {
				numbers.Add(c.PhoneNumberID, c.Account)
			}
			return withFetcher(whatsapp.New(c, hc), whatsapp.NewWebhook(c, sink, log), c.Rate), c.Enabled()
		}},
		{channels.Messenger, "PAGE_TOKEN", func(acc string) (wired, bool) {
			c := messenger.LoadConfig(e, acc)
			if c.Routes = pages; c.Enabled() {
				pages.Add(c.PageID, c.Account)
			}
			return withFetcher(messenger.New(c, hc), messenger.NewWebhook(c, sink, log), c.Rate), c.Enabled()
		}},
		{channels.Instagram, "TOKEN", func(acc string) (wired, bool) {
			c := instagram.LoadConfig(e, acc)
			if c.Routes = igAccounts; c.Enabled() {
				igAccounts.Add(c.AccountID, c.Account)
			}
			return withFetcher(instagram.New(c, hc), instagram.NewWebhook(c, sink, log), c.Rate), c.Enabled()
		}},
		{channels.SMS, "ACCOUNT_SID", func(acc string) (wired, bool) {
			c := sms.LoadConfig(e, acc).WithBaseURL(baseURL)
			return wired{sms.New(c, hc), sms.NewWebhook(c, sink, log), c.Rate, nil}, c.Enabled()
		}},
		{channels.Email, "HOST", func(acc string) (wired, bool) {
			c := email.LoadConfig(e, acc)
			// Open and click tracking is install-wide (NUDGE_EMAIL_TRACKING_…):
			// one set of /t/ routes, whichever account enables it first.
			if c.Enabled() && c.TrackingSecret != "" && cs.tracking == nil {
				cs.tracking = email.NewTracking(c.TrackingSecret, sink, log)
			}
			return wired{email.New(c, hc), email.NewWebhook(c, sink, log), c.Rate, nil}, c.Enabled()
		}},
	}
}

// Register mounts every account's webhook (every method: Meta verifies
// with GET) and the email tracking routes.
func (cs *channelSet) Register(mux *server.Mux) {
	for k, h := range cs.hooks {
		mux.Handle(channels.WebhookPath(k.kind, k.account), users.Public, h) // signed by the provider
	}
	if cs.tracking != nil {
		cs.tracking.Register(mux)
	}
}
