package channels

import "github.com/nudge-engine/nudge/internal/config"

// Bot is what every bot account reached with one token reads alike
// (Telegram, Viber, VK): the account, the token that enables it, the API
// base and the sending rate. The adapters' configs embed it.
type Bot struct {
	Account string // "" = the default account
	Token   string // the bot's access token; none disables the account
	APIURL  string // API base URL; a fake's URL in tests
	// Rate is the account's sending limit: the adapter's default with the
	// account-wide rate of its RATE variable (LoadRate).
	Rate Rate
}

// Enabled reports whether a token is configured.
func (b Bot) Enabled() bool { return b.Token != "" }

// LoadBot reads the account's NUDGE_<CHANNEL>_TOKEN, NUDGE_<CHANNEL>_API_URL
// (default apiURL) and NUDGE_<CHANNEL>_RATE (default rate), or their
// NUDGE_<CHANNEL>_<ACCOUNT>_… forms (EnvVar).
func LoadBot(e *config.Env, channel, account, apiURL string, rate Rate) Bot {
	return Bot{
		Account: account,
		Token:   e.String(EnvVar(channel, account, "TOKEN"), ""),
		APIURL:  LoadAPIURL(e, EnvVar(channel, account, "API_URL"), apiURL),
		Rate:    LoadRate(e, EnvVar(channel, account, "RATE"), rate),
	}
}
