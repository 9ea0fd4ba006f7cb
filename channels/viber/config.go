package viber

import (
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// DefaultAPIURL is the public REST Bot API.
const DefaultAPIURL = "https://chatapi.viber.com/pa"

// MaxWebhookBody caps an inbound callback.
const MaxWebhookBody = 1 << 20

// Config is one Viber bot (public account). Its Token is the
// X-Viber-Auth-Token and also the HMAC key of webhook signatures, its APIURL
// the base without /send_message, its Rate DefaultRate with NUDGE_VIBER_RATE.
type Config struct {
	channels.Bot
	SenderName   string // ≤28 characters, shown as the message sender
	SenderAvatar string // optional avatar URL
	// RateLimitBackoff is the RetryAfter of status 12 (Viber gives none; the
	// per-user counter resets when the user replies or after an hour).
	RateLimitBackoff time.Duration
}

// EnvName is NUDGE_VIBER_<SETTING> for the default account and
// NUDGE_VIBER_<ACCOUNT>_<SETTING> otherwise.
func EnvName(account, setting string) string { return channels.EnvVar("VIBER", account, setting) }

// LoadConfig reads NUDGE_VIBER_TOKEN, NUDGE_VIBER_SENDER_NAME (default
// "Nudge"), NUDGE_VIBER_SENDER_AVATAR, NUDGE_VIBER_API_URL and
// NUDGE_VIBER_RATE_LIMIT_BACKOFF (default 10m), or their
// NUDGE_VIBER_<ACCOUNT>_… forms. Without a token the bot is disabled.
func LoadConfig(e *config.Env, account string) Config {
	c := Config{
		Bot:              channels.LoadBot(e, "VIBER", account, DefaultAPIURL, DefaultRate),
		SenderName:       e.String(EnvName(account, "SENDER_NAME"), "Nudge"),
		SenderAvatar:     e.URL(EnvName(account, "SENDER_AVATAR"), "", "http", "https"),
		RateLimitBackoff: e.Duration(EnvName(account, "RATE_LIMIT_BACKOFF"), 10*time.Minute),
	}
	if n := utf8.RuneCountInString(c.SenderName); c.Enabled() && (n == 0 || n > MaxSenderName) {
		e.Fail(EnvName(account, "SENDER_NAME"), "must be 1-%d characters", MaxSenderName)
	}
	return c
}

// DefaultRate: Viber documents no account-wide rate, only 100 messages an
// hour to one user who has not replied: a budget (ChatBurst), not a pace of
// one message every 36 seconds.
var DefaultRate = channels.Rate{PerSecond: 0, PerChatPerSecond: 100.0 / 3600, ChatBurst: 100}
