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

// Config is one Viber bot (public account).
type Config struct {
	Account      string
	Token        string // X-Viber-Auth-Token; also the HMAC key of webhook signatures
	APIURL       string // base URL without /send_message; the fake's URL in tests
	SenderName   string // ≤28 characters, shown as the message sender
	SenderAvatar string // optional avatar URL
	// RateLimitBackoff is the RetryAfter of status 12 (Viber gives none; the
	// per-user counter resets when the user replies or after an hour).
	RateLimitBackoff time.Duration
	// Rate is the account's sending limit: DefaultRate with the account-wide
	// rate from NUDGE_VIBER_RATE (channels.LoadRate).
	Rate channels.Rate
}

// Enabled reports whether a token is configured.
func (c Config) Enabled() bool { return c.Token != "" }

// EnvName is NUDGE_VIBER_<SETTING> for the default account and
// NUDGE_VIBER_<ACCOUNT>_<SETTING> otherwise.
func EnvName(account, setting string) string { return channels.EnvVar("VIBER", account, setting) }

// LoadConfig reads NUDGE_VIBER_TOKEN, NUDGE_VIBER_SENDER_NAME (default
// "Nudge"), NUDGE_VIBER_SENDER_AVATAR, NUDGE_VIBER_API_URL and
// NUDGE_VIBER_RATE_LIMIT_BACKOFF (default 10m), or their
// NUDGE_VIBER_<ACCOUNT>_… forms. Without a token the bot is disabled.
func LoadConfig(e *config.Env, account string) Config {
	c := Config{
		Account:          account,
		Token:            e.String(EnvName(account, "TOKEN"), ""),
		APIURL:           channels.LoadAPIURL(e, EnvName(account, "API_URL"), DefaultAPIURL),
		SenderName:       e.String(EnvName(account, "SENDER_NAME"), "Nudge"),
		SenderAvatar:     e.URL(EnvName(account, "SENDER_AVATAR"), "", "http", "https"),
		RateLimitBackoff: e.Duration(EnvName(account, "RATE_LIMIT_BACKOFF"), 10*time.Minute),
		Rate:             channels.LoadRate(e, EnvName(account, "RATE"), DefaultRate),
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
