package messenger

import (
	"strings"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/internal/config"
)

// Config is one Facebook page.
type Config struct {
	Account   string // "" = the default page
	meta.App         // the Meta app's Graph base (a fake's URL in tests), app secret and verify token
	PageToken string // page access token
	PageID    string // the page's id: events Meta posts for it are attributed to this account
	// Rate is the account's sending limit: DefaultRate with the account-wide
	// rate from NUDGE_MESSENGER_RATE (channels.LoadRate).
	Rate channels.Rate
	// Routes, shared by every page's webhook, attributes each event to the
	// account of the page it names (the wiring fills it from PageID).
	Routes meta.Routes
}

// Enabled reports whether the page is configured at all.
func (c Config) Enabled() bool { return c.PageToken != "" }

// LoadConfig reads the page's variables:
//
//	NUDGE_MESSENGER_API_URL     (default https://graph.facebook.com/v21.0)
//	NUDGE_MESSENGER_PAGE_TOKEN  page access token (enables the channel);
//	                            NUDGE_MESSENGER_<ACCOUNT>_PAGE_TOKEN for other pages
//	NUDGE_META_APP_SECRET       required with a token (webhook signatures)
//	NUDGE_META_VERIFY_TOKEN     hub.verify_token for the handshake
//	NUDGE_MESSENGER_RATE        Send API calls a second (default 40)
//	NUDGE_MESSENGER_PAGE_ID     the page's id (digits), to attribute the events
//	                            one Meta app posts for several pages
func LoadConfig(e *config.Env, account string) Config {
	tokenVar, idVar := channels.EnvVar("MESSENGER", account, "PAGE_TOKEN"), channels.EnvVar("MESSENGER", account, "PAGE_ID")
	c := Config{
		Account:   account,
		App:       meta.LoadApp(e, "MESSENGER"),
		PageToken: e.String(tokenVar, ""),
		PageID:    e.String(idVar, ""),
		Rate:      channels.LoadRate(e, channels.EnvVar("MESSENGER", account, "RATE"), DefaultRate),
	}
	if c.PageID != "" && strings.Trim(c.PageID, "0123456789") != "" {
		e.Fail(idVar, "%q is not a page id (digits only)", c.PageID)
	}
	c.RequireSecret(e, tokenVar, c.PageToken)
	return c
}

// DefaultRate: Meta publishes no per-second Send API number (the page limit
// is 200 calls × engaged people per 24 h, error 613 above it); 40/s per page
// and one message per second per person keep far below it and match what
// Meta support recommends for bursts.
var DefaultRate = channels.Rate{PerSecond: 40, PerChatPerSecond: 1}
