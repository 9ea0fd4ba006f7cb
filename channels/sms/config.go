package sms

import (
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// DefaultAPIURL is Twilio's REST base.
const DefaultAPIURL = "https://api.twilio.com"

// Config is one Twilio account and sender.
type Config struct {
	Account             string // "" = the default account
	APIURL              string // Twilio REST base; a fake's URL in tests
	AccountSID          string
	AuthToken           string // Basic auth password and webhook signature key
	From                string // E.164 sender number (or alphanumeric id)
	MessagingServiceSID string // used instead of From when set
	// StatusCallbackURL is where Twilio posts statuses: the public URL of
	// this account's webhook (see WithBaseURL). Empty = no status callbacks.
	StatusCallbackURL string
	// WebhookURL is the public URL Twilio calls, which signatures are
	// computed over: behind a proxy the request's own address is not it.
	// Default StatusCallbackURL without its query; empty = rebuilt from the
	// request.
	WebhookURL string
	// Rate is the account's sending limit: DefaultRate with the rate of the
	// number from NUDGE_TWILIO_RATE (channels.LoadRate; 1 a second for a long
	// code, short codes and toll-free numbers allow more).
	Rate channels.Rate
}

// Enabled reports whether the account is configured at all.
func (c Config) Enabled() bool { return c.AccountSID != "" }

// LoadConfig reads the account's variables (the package takes an account
// name for NUDGE_TWILIO_<ACCOUNT>_… names; `nudge` wires only the default
// account, ""):
//
//	NUDGE_TWILIO_ACCOUNT_SID           AC… (enables the channel)
//	NUDGE_TWILIO_AUTH_TOKEN            required with a SID
//	NUDGE_TWILIO_FROM                  sender number, or
//	NUDGE_TWILIO_MESSAGING_SERVICE_SID MG… instead of a number
//	NUDGE_TWILIO_API_URL               default https://api.twilio.com
//	NUDGE_TWILIO_STATUS_CALLBACK_URL   overrides the status callback of WithBaseURL
//	NUDGE_TWILIO_WEBHOOK_URL           overrides the URL signatures are checked against
//	NUDGE_TWILIO_RATE                  messages a second of the number (default 1; 20/m, 0 = unlimited)
func LoadConfig(e *config.Env, account string) Config {
	v := func(k string) string { return channels.EnvVar("TWILIO", account, k) }
	c := Config{
		Account:             account,
		APIURL:              channels.LoadAPIURL(e, v("API_URL"), DefaultAPIURL),
		AccountSID:          e.String(v("ACCOUNT_SID"), ""),
		AuthToken:           e.String(v("AUTH_TOKEN"), ""),
		From:                e.String(v("FROM"), ""),
		MessagingServiceSID: e.String(v("MESSAGING_SERVICE_SID"), ""),
		StatusCallbackURL:   e.URL(v("STATUS_CALLBACK_URL"), "", "http", "https"),
		WebhookURL:          e.URL(v("WEBHOOK_URL"), "", "http", "https"),
		Rate:                channels.LoadRate(e, v("RATE"), DefaultRate),
	}
	if c.AccountSID != "" {
		if c.AuthToken == "" {
			e.Fail(v("AUTH_TOKEN"), "is required when %s is set", v("ACCOUNT_SID"))
		}
		if c.From == "" && c.MessagingServiceSID == "" {
			e.Fail(v("FROM"), "is required (or %s) when %s is set", v("MESSAGING_SERVICE_SID"), v("ACCOUNT_SID"))
		}
	}
	return c
}

// WithBaseURL derives what the explicit variables left unset from the
// install's public URL (NUDGE_BASE_URL): the status callback, and with it
// the URL inbound signatures are checked against, is the account's webhook,
// channels.WebhookURL(base, channels.SMS, account). Twilio signs the public
// URL it called, so checking the address a proxy forwarded to would refuse
// genuine callbacks and accept forged ones.
func (c Config) WithBaseURL(base string) Config {
	if c.StatusCallbackURL == "" && base != "" {
		c.StatusCallbackURL = channels.WebhookURL(base, channels.SMS, c.Account)
	}
	return c
}

// DefaultRate: Twilio queues one message segment per second per US/CA long
// code (NUDGE_TWILIO_RATE raises it for short codes, toll-free and
// Messaging Services); one message per recipient per second.
var DefaultRate = channels.Rate{PerSecond: 1, PerChatPerSecond: 1}
