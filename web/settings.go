package web

import (
	"context"
	"net/http"

	"github.com/nudge-engine/nudge/apikeys"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// ChannelSetting is one provider account on the settings page (a channel
// with no account configured is one row, not configured).
type ChannelSetting struct {
	Kind       string
	Account    string
	Configured bool
	Webhook    string
}

// Settings is what the settings page shows; the stack supplies it.
type Settings struct {
	Channels []ChannelSetting
	Keys     []apikeys.Key
	Users    []users.User
}

// EnableSettings adds the admins' read-only settings page.
func (w *Web) EnableSettings(load func(ctx context.Context) (Settings, error)) error {
	if err := w.enable(NavItem{Href: "/settings", Label: "Settings", About: "Channels and their webhooks, API keys, users", Action: users.Settings},
		"settings"); err != nil {
		return err
	}
	w.settings = load
	return nil
}

func (w *Web) registerSettings(mux *server.Mux) {
	if w.settings == nil {
		return
	}
	mux.HandleFunc("GET /settings", users.Settings, func(rw http.ResponseWriter, r *http.Request) {
		s, err := w.settings(r.Context())
		if err != nil {
			w.fail(rw, r, err)
			return
		}
		w.Render(rw, r, "settings", "Settings", s)
	})
}
