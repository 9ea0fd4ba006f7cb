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
	"github.com/nudge-engine/nudge/channels/sms"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// envAccount selects the variables every role reads for a channel: "" is
// the unprefixed NUDGE_<CHANNEL>_… names. Only this one account per channel
// is wired, mounted at channels.WebhookPath(kind, channels.DefaultAccount);
// serve, worker, run and `nudge channels setup` all read it.
const envAccount = ""

// channelSet is every configured provider: its sender, its signed webhook
// and its rate (the provider's default, or NUDGE_<PROVIDER>_RATE).
type channelSet struct {
	Registry *channels.Registry
	Rates    map[channels.Kind]channels.Rate
	hooks    map[channels.Kind]http.Handler
	tracking *email.Tracking
	// fetchers download the files customers send, per provider.
	fetchers map[channels.Kind]fileFetcher
}

// fileFetcher is a provider client that downloads an inbound attachment.
type fileFetcher interface {
	Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error)
}

// Fetch implements inbox.Fetcher with the configured provider's client.
func (cs *channelSet) Fetch(ctx context.Context, ch channels.Kind, _ string, a channels.Attachment, max int64) (channels.File, error) {
	f, ok := cs.fetchers[ch]
	if !ok {
		// SMS and email bring no attachments; any other kind here has no
		// configured provider.
		return channels.File{}, fmt.Errorf("no %s provider configured to fetch attachments from", ch)
	}
	return f.Fetch(ctx, a, max)
}

// loadChannels builds the providers whose credentials are configured. A
// half-configured provider is reported through e (naming the variable).
// baseURL is the install's public URL (NUDGE_BASE_URL), from which the SMS
// status callback and signature URL are derived unless set explicitly.
func loadChannels(e *config.Env, baseURL string, sink channels.Sink, log *slog.Logger, hc *http.Client) *channelSet {
	cs := &channelSet{Registry: channels.NewRegistry(), Rates: map[channels.Kind]channels.Rate{}, hooks: map[channels.Kind]http.Handler{},
		fetchers: map[channels.Kind]fileFetcher{}}
	add := func(k channels.Kind, s channels.Sender, hook http.Handler, r channels.Rate) {
		cs.Registry.Add(s)
		cs.hooks[k] = hook
		cs.Rates[k] = r
	}
	if c := telegram.LoadConfig(e, envAccount); c.Enabled() {
		client := telegram.New(c, hc)
		add(channels.Telegram, client, telegram.NewWebhook(c, sink, log), c.Rate)
		cs.fetchers[channels.Telegram] = client
	}
	if c := viber.LoadConfig(e, envAccount); c.Enabled() {
		client := viber.New(c, hc)
		add(channels.Viber, client, viber.NewWebhook(c, sink, log), c.Rate)
		cs.fetchers[channels.Viber] = client
	}
	if c := vk.LoadConfig(e, envAccount); c.Enabled() {
		client := vk.New(c, hc)
		add(channels.VK, client, vk.NewWebhook(c, sink, log), c.Rate)
		cs.fetchers[channels.VK] = client
	}
	if c := whatsapp.LoadConfig(e, envAccount); c.Enabled() {
		client := whatsapp.New(c, hc)
		add(channels.WhatsApp, client, whatsapp.NewWebhook(c, sink, log), c.Rate)
		cs.fetchers[channels.WhatsApp] = client
	}
	if c := messenger.LoadConfig(e, envAccount); c.Enabled() {
		client := messenger.New(c, hc)
		add(channels.Messenger, client, messenger.NewWebhook(c, sink, log), c.Rate)
		cs.fetchers[channels.Messenger] = client
	}
	if c := instagram.LoadConfig(e, envAccount); c.Enabled() {
		client := instagram.New(c, hc)
		add(channels.Instagram, client, instagram.NewWebhook(c, sink, log), c.Rate)
		cs.fetchers[channels.Instagram] = client
	}
	if c := sms.LoadConfig(e, envAccount).WithBaseURL(baseURL); c.Enabled() {
		add(channels.SMS, sms.New(c, hc), sms.NewWebhook(c, sink, log), c.Rate)
	}
	if c := email.LoadConfig(e, envAccount); c.Enabled() {
		add(channels.Email, email.New(c, hc), email.NewWebhook(c, sink, log), c.Rate)
		if c.TrackingSecret != "" {
			cs.tracking = email.NewTracking(c.TrackingSecret, sink, log)
		}
	}
	return cs
}

// Register mounts the webhooks (every method: Meta verifies with GET) and
// the email tracking routes.
func (cs *channelSet) Register(mux *server.Mux) {
	for k, h := range cs.hooks {
		mux.Handle(channels.WebhookPath(k, channels.DefaultAccount), users.Public, h) // signed by the provider
	}
	if cs.tracking != nil {
		cs.tracking.Register(mux)
	}
}
