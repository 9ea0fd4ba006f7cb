package meta

import (
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// App is what every account of one Meta app reads alike, whichever product
// it sends with: the product's Graph base, the app secret that signs the
// webhooks and the verify token of the subscription handshake.
type App struct {
	APIURL      string
	AppSecret   string
	VerifyToken string
}

// LoadApp reads NUDGE_<PRODUCT>_API_URL (default DefaultAPIURL),
// NUDGE_META_APP_SECRET and NUDGE_META_VERIFY_TOKEN.
func LoadApp(e *config.Env, product string) App {
	return App{
		APIURL:      channels.LoadAPIURL(e, "NUDGE_"+product+"_API_URL", DefaultAPIURL),
		AppSecret:   e.String("NUDGE_META_APP_SECRET", ""),
		VerifyToken: e.String("NUDGE_META_VERIFY_TOKEN", ""),
	}
}

// RequireSecret records a missing app secret when the account's token (read
// from tokenVar) is set: its webhooks could not be verified, so none would
// be accepted.
func (a App) RequireSecret(e *config.Env, tokenVar, token string) {
	if token != "" && a.AppSecret == "" {
		e.Fail("NUDGE_META_APP_SECRET", "is required when %s is set", tokenVar)
	}
}
