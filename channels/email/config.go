package email

import (
	"net/mail"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// TLS modes of the SMTP connection.
const (
	TLSStartTLS      = "starttls"      // STARTTLS required (go-mail TLSMandatory)
	TLSOpportunistic = "opportunistic" // STARTTLS when offered
	TLSImplicit      = "implicit"      // TLS from the first byte (SMTPS, port 465)
	TLSNone          = "none"          // plain text (local relays, the fake)
)

// Config is one SMTP sender.
type Config struct {
	Account  string
	Host     string
	Port     int // always passed explicitly: go-mail's NoTLS default port is 25
	Username string
	Password string
	Auth     string // AUTH mechanism: auto | plain | login | cram-md5 (default auto)
	From     string // "Name <addr>" or addr
	TLS      string // one of the TLS* constants
	HELO     string // EHLO name; "" = go-mail's default (the host name)
	Timeout  time.Duration
	// UnsubscribeMailto is the mailto: of List-Unsubscribe beside the
	// message's one-click URL ("" = URL only).
	UnsubscribeMailto string
	// TrackingURL is the public base of /t/o and /t/c ("" = no tracking).
	TrackingURL string
	// TrackingSecret signs tracking tokens; shared by every account of an
	// install because the routes are.
	TrackingSecret string
	// BounceToken authenticates the bounce webhook (Bearer or ?token=).
	BounceToken string
	// Rate is the account's sending limit: DefaultRate with the account-wide
	// rate from NUDGE_SMTP_RATE (channels.LoadRate).
	Rate channels.Rate
}

// Enabled reports whether the account is configured at all.
func (c Config) Enabled() bool { return c.Host != "" }

// Tracker returns the link/pixel signer, or nil without tracking.
func (c Config) Tracker() *Tracker {
	if c.TrackingURL == "" || c.TrackingSecret == "" {
		return nil
	}
	return &Tracker{BaseURL: strings.TrimRight(c.TrackingURL, "/"), Secret: []byte(c.TrackingSecret)}
}

// LoadConfig reads the account's variables (NUDGE_SMTP_<ACCOUNT>_… for a
// named account):
//
//	NUDGE_SMTP_HOST                SMTP relay (enables the channel)
//	NUDGE_SMTP_PORT                default 587 (465 with TLS=implicit)
//	NUDGE_SMTP_USER, NUDGE_SMTP_PASSWORD   SMTP AUTH (none when empty)
//	NUDGE_SMTP_AUTH                auto | plain | login | cram-md5 (default auto: the
//	                               strongest the server offers; go-mail offers no
//	                               PLAIN/LOGIN over an unencrypted connection except to localhost)
//	NUDGE_SMTP_FROM                sender, required with a host
//	NUDGE_SMTP_TLS                 starttls | opportunistic | implicit | none (default starttls)
//	NUDGE_SMTP_HELO                EHLO name
//	NUDGE_SMTP_TIMEOUT             default 30s
//	NUDGE_SMTP_UNSUBSCRIBE_MAILTO  mailto address for List-Unsubscribe
//	NUDGE_EMAIL_TRACKING_URL       public base for /t/o and /t/c (default NUDGE_BASE_URL)
//	NUDGE_EMAIL_TRACKING_SECRET    enables open/click tracking
//	NUDGE_EMAIL_BOUNCE_TOKEN       secret of the bounce webhook
//	NUDGE_SMTP_RATE                messages a second the relay takes (default 14)
func LoadConfig(e *config.Env, account string) Config {
	v := func(k string) string { return channels.EnvVar("SMTP", account, k) }
	c := Config{
		Account:           account,
		Host:              e.String(v("HOST"), ""),
		Username:          e.String(v("USER"), ""),
		Password:          e.String(v("PASSWORD"), ""),
		Auth:              e.OneOf(v("AUTH"), "auto", "auto", "plain", "login", "cram-md5"),
		From:              e.String(v("FROM"), ""),
		TLS:               e.OneOf(v("TLS"), TLSStartTLS, TLSStartTLS, TLSOpportunistic, TLSImplicit, TLSNone),
		HELO:              e.String(v("HELO"), ""),
		Timeout:           e.Duration(v("TIMEOUT"), 30*time.Second),
		UnsubscribeMailto: e.String(v("UNSUBSCRIBE_MAILTO"), ""),
		TrackingURL:       e.URL("NUDGE_EMAIL_TRACKING_URL", e.String("NUDGE_BASE_URL", ""), "http", "https"),
		TrackingSecret:    e.String("NUDGE_EMAIL_TRACKING_SECRET", ""),
		BounceToken:       e.String("NUDGE_EMAIL_BOUNCE_TOKEN", ""),
		Rate:              channels.LoadRate(e, v("RATE"), DefaultRate),
	}
	defPort := 587
	if c.TLS == TLSImplicit {
		defPort = 465
	}
	c.Port = e.Int(v("PORT"), defPort)
	if c.Port < 1 || c.Port > 65535 {
		e.Fail(v("PORT"), "must be 1..65535")
	}
	if c.Host != "" {
		if c.From == "" {
			e.Fail(v("FROM"), "is required when %s is set", v("HOST"))
		} else if _, err := mail.ParseAddress(c.From); err != nil {
			e.Fail(v("FROM"), "is not an address: %v", err)
		}
		if (c.Username == "") != (c.Password == "") {
			e.Fail(v("PASSWORD"), "%s and %s go together", v("USER"), v("PASSWORD"))
		}
	}
	return c
}

// DefaultRate: 14 messages/s is the common starting quota of hosted relays
// (Amazon SES's default sending rate); one message per second per address.
var DefaultRate = channels.Rate{PerSecond: 14, PerChatPerSecond: 1}
