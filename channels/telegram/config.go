package telegram

import (
	"regexp"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// DefaultAPIURL is the public Bot API server.
const DefaultAPIURL = "https://api.telegram.org"

// MaxWebhookBody caps an inbound update; real updates are a few KB.
const MaxWebhookBody = 1 << 20

var (
	tokenRe  = regexp.MustCompile(`^\d+:[A-Za-z0-9_-]{30,}$`)
	secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

// Config is one Telegram bot. Its Token is 123456789:AA… from @BotFather,
// its APIURL the Bot API base without /bot<token>, its Rate DefaultRate with
// NUDGE_TELEGRAM_RATE.
type Config struct {
	channels.Bot
	WebhookSecret string // secret_token given to setWebhook and checked on every update
	// PaymentProviderToken is the payment provider's token from @BotFather
	// (NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN), needed for invoices in any
	// currency but Telegram Stars (XTR).
	PaymentProviderToken string
}

// EnvName is the variable holding setting for account: NUDGE_TELEGRAM_<SETTING>
// for the default account, NUDGE_TELEGRAM_<ACCOUNT>_<SETTING> otherwise.
func EnvName(account, setting string) string { return channels.EnvVar("TELEGRAM", account, setting) }

// LoadConfig reads NUDGE_TELEGRAM_TOKEN, NUDGE_TELEGRAM_WEBHOOK_SECRET and
// NUDGE_TELEGRAM_API_URL, NUDGE_TELEGRAM_RATE and
// NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN (or the
// NUDGE_TELEGRAM_<ACCOUNT>_… forms). The bot is
// optional: with no token the config is disabled and nothing else is checked.
func LoadConfig(e *config.Env, account string) Config {
	c := Config{
		Bot:                  channels.LoadBot(e, "TELEGRAM", account, DefaultAPIURL, DefaultRate),
		WebhookSecret:        e.String(EnvName(account, "WEBHOOK_SECRET"), ""),
		PaymentProviderToken: e.String(EnvName(account, "PAYMENT_PROVIDER_TOKEN"), ""),
	}
	if !c.Enabled() {
		return c
	}
	if !tokenRe.MatchString(c.Token) {
		e.Fail(EnvName(account, "TOKEN"), "does not look like a bot token (digits:secret from @BotFather)")
	}
	if !secretRe.MatchString(c.WebhookSecret) {
		e.Fail(EnvName(account, "WEBHOOK_SECRET"), "is required: 1-256 characters of A-Z a-z 0-9 _ -")
	}
	return c
}

// DefaultRate follows the Bot FAQ: about 30 messages a second across users and
// one message a second to one chat.
var DefaultRate = channels.Rate{PerSecond: 30, PerChatPerSecond: 1}
