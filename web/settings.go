package web

import (
	"context"
	"net/http"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/users"
)

// ChannelSetting is one provider account on the settings page (a channel
// with no account configured is one row, not configured).
type ChannelSetting struct {
	Kind       string
	Account    string
	Configured bool
	Webhook    string
	// Payments is a Telegram bot's in-chat payment setup (nil elsewhere).
	Payments *PaymentSetting
}

// PaymentSetting says whether a bot sends invoices and in what currencies.
type PaymentSetting struct {
	// ProviderToken: a payment provider token is configured (the token
	// itself is never shown).
	ProviderToken bool
	// Currencies are those of the pay buttons the active campaigns send
	// through the bot.
	Currencies []string
}

// Linked are the currencies whose pay buttons go out as payment links
// rather than invoices: all but Stars when the bot has no provider token.
func (p PaymentSetting) Linked() []string {
	if p.ProviderToken {
		return nil
	}
	var out []string
	for _, c := range p.Currencies {
		if c != "XTR" {
			out = append(out, c)
		}
	}
	return out
}

// Settings is what the settings page shows; the stack supplies it.
type Settings struct {
	Channels []ChannelSetting
	Keys     []apikeys.Key
	Users    []users.User
}

// EnableSettings adds the admins' read-only settings page.
func (w *Web) EnableSettings(load func(ctx context.Context) (Settings, error)) error {
	return w.enable(func() { w.settings = load },
		NavItem{Href: "/settings", Label: "Settings", About: "Channels and their webhooks, API keys, users", Action: users.Settings},
		[]string{"settings"},
		route{"GET /settings", users.Settings, w.settingsPage})
}

func (w *Web) settingsPage(rw http.ResponseWriter, r *http.Request) {
	s, err := w.settings(r.Context())
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	w.Render(rw, r, "settings", "Settings", s)
}
