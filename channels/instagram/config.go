package instagram

import (
	"regexp"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/internal/config"
)

// Config is one Instagram professional account linked to a Facebook page.
type Config struct {
	Account   string // "" = the default account
	meta.App         // the Meta app's Graph base (a fake's URL in tests), app secret and verify token
	Token     string // the linked page's access token (instagram_manage_messages)
	AccountID string // the IG professional account id (IG_ID); "" sends to /me/messages
	// Rate is the account's sending limit: DefaultRate with the account-wide
	// rate from NUDGE_INSTAGRAM_RATE (channels.LoadRate).
	Rate channels.Rate
	// Routes, shared by every account's webhook, attributes each event to
	// the account whose AccountID it names (the wiring fills it).
	Routes meta.Routes
}

// Enabled reports whether the account is configured at all.
func (c Config) Enabled() bool { return c.Token != "" }

var accountIDRE = regexp.MustCompile(`^[0-9]{1,32}$`)

// LoadConfig reads the account's variables:
//
//	NUDGE_INSTAGRAM_API_URL     (default https://graph.facebook.com/v21.0)
//	NUDGE_INSTAGRAM_TOKEN       page access token of the page linked to the
//	                            account (enables the channel);
//	                            NUDGE_INSTAGRAM_<ACCOUNT>_TOKEN for other accounts
//	NUDGE_INSTAGRAM_ACCOUNT_ID  IG professional account id (digits); sends go
//	                            to /<id>/messages, or /me/messages without it
//	NUDGE_META_APP_SECRET       required with a token (webhook signatures)
//	NUDGE_META_VERIFY_TOKEN     hub.verify_token for the handshake
//	NUDGE_INSTAGRAM_RATE        Send API calls a second (default 100)
func LoadConfig(e *config.Env, account string) Config {
	tokenVar := channels.EnvVar("INSTAGRAM", account, "TOKEN")
	idVar := channels.EnvVar("INSTAGRAM", account, "ACCOUNT_ID")
	c := Config{
		Account:   account,
		App:       meta.LoadApp(e, "INSTAGRAM"),
		Token:     e.String(tokenVar, ""),
		AccountID: e.String(idVar, ""),
		Rate:      channels.LoadRate(e, channels.EnvVar("INSTAGRAM", account, "RATE"), DefaultRate),
	}
	c.RequireSecret(e, tokenVar, c.Token)
	if c.AccountID != "" && !accountIDRE.MatchString(c.AccountID) {
		e.Fail(idVar, "%q is not an Instagram account id (digits only)", c.AccountID)
	}
	return c
}

// DefaultRate: Meta allows 300 Send API calls a second per Instagram account
// for text, links and stickers (10 for audio and video); 100/s keeps well
// below it, and one message per second per person matches Messenger.
var DefaultRate = channels.Rate{PerSecond: 100, PerChatPerSecond: 1}
