package whatsapp

import (
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/internal/config"
)

// Config is one WhatsApp business phone number.
type Config struct {
	Account       string // "" = the default account
	meta.App             // the Meta app's Graph base (a fake's URL in tests), app secret and verify token
	Token         string // system-user access token
	PhoneNumberID string // the sending number's Graph id
	WABAID        string // the WhatsApp Business Account owning the number: its message templates
	// Rate is the account's sending limit: DefaultRate with the account-wide
	// rate from NUDGE_WHATSAPP_RATE (channels.LoadRate).
	Rate channels.Rate
	// Routes, shared by every account's webhook, attributes each change to
	// the account of the number it names by its phone_number_id (the wiring
	// fills it from PhoneNumberID).
	Routes meta.Routes
}

// Enabled reports whether the account is configured at all.
func (c Config) Enabled() bool { return c.Token != "" }

// LoadConfig reads the account's variables. The account-specific names are
// NUDGE_WHATSAPP_<ACCOUNT>_TOKEN and …_PHONE_NUMBER_ID; the API URL, app
// secret and verify token are shared by accounts of one Meta app:
//
//	NUDGE_WHATSAPP_API_URL          (default https://graph.facebook.com/v21.0)
//	NUDGE_WHATSAPP_TOKEN            access token (enables the channel)
//	NUDGE_WHATSAPP_PHONE_NUMBER_ID  required with a token
//	NUDGE_WHATSAPP_WABA_ID          business account id: `nudge channels sync whatsapp`
//	NUDGE_META_APP_SECRET           required with a token (webhook signatures)
//	NUDGE_META_VERIFY_TOKEN         hub.verify_token for the handshake
//	NUDGE_WHATSAPP_RATE             messages a second of the number (default 80)
func LoadConfig(e *config.Env, account string) Config {
	tokenVar, phoneVar := channels.EnvVar("WHATSAPP", account, "TOKEN"), channels.EnvVar("WHATSAPP", account, "PHONE_NUMBER_ID")
	c := Config{
		Account:       account,
		App:           meta.LoadApp(e, "WHATSAPP"),
		Token:         e.String(tokenVar, ""),
		PhoneNumberID: e.String(phoneVar, ""),
		WABAID:        e.String(channels.EnvVar("WHATSAPP", account, "WABA_ID"), ""),
		Rate:          channels.LoadRate(e, channels.EnvVar("WHATSAPP", account, "RATE"), DefaultRate),
	}
	if c.Token != "" && c.PhoneNumberID == "" {
		e.Fail(phoneVar, "is required when %s is set", tokenVar)
	}
	c.RequireSecret(e, tokenVar, c.Token)
	return c
}

// DefaultRate: 80 messages/s per business number (Cloud API default
// throughput, error 130429 above it) and about one message per 6 s to one
// recipient (pair rate limit, error 131056).
var DefaultRate = channels.Rate{PerSecond: 80, PerChatPerSecond: 1.0 / 6}
