package vk

import (
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// DefaultAPIURL is the VK API method endpoint base.
const DefaultAPIURL = "https://api.vk.ru/method"

// Version is the API version sent with every call.
const Version = "5.199"

// MaxWebhookBody caps an inbound callback.
const MaxWebhookBody = 1 << 20

// Config is one VK community. Its Token is the community access token, its
// APIURL the base without /messages.send, its Rate DefaultRate with
// NUDGE_VK_RATE.
type Config struct {
	channels.Bot
	GroupID      int64  // community id; callbacks for another group are refused
	Secret       string // Callback API secret key
	Confirmation string // string answered to the "confirmation" callback
}

// EnvName is NUDGE_VK_<SETTING> for the default account and
// NUDGE_VK_<ACCOUNT>_<SETTING> otherwise.
func EnvName(account, setting string) string { return channels.EnvVar("VK", account, setting) }

// LoadConfig reads NUDGE_VK_TOKEN, NUDGE_VK_GROUP_ID, NUDGE_VK_SECRET,
// NUDGE_VK_CONFIRMATION and NUDGE_VK_API_URL (or NUDGE_VK_<ACCOUNT>_…).
// Without a token the community is disabled; with one, the others except
// the API URL are required.
func LoadConfig(e *config.Env, account string) Config {
	c := Config{Bot: channels.LoadBot(e, "VK", account, DefaultAPIURL, DefaultRate)}
	if !c.Enabled() {
		return c
	}
	c.GroupID = int64(e.Int(EnvName(account, "GROUP_ID"), 0))
	if c.GroupID <= 0 {
		e.Fail(EnvName(account, "GROUP_ID"), "is required: the community id (a positive number)")
	}
	c.Secret = e.Required(EnvName(account, "SECRET"))
	c.Confirmation = e.Required(EnvName(account, "CONFIRMATION"))
	return c
}

// DefaultRate: 20 API requests a second per community token.
var DefaultRate = channels.Rate{PerSecond: 20, PerChatPerSecond: 0}
