package consent

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent/jwtlink"
	"github.com/nudge-engine/nudge/internal/config"
)

// Config is the consent package's configuration.
type Config struct {
	// Deep-link targets; a channel without one gets no button.
	TelegramBot    string // NUDGE_TELEGRAM_BOT: bot username (without @), ends in "bot"
	ViberURI       string // NUDGE_VIBER_URI: the bot's public account URI
	WhatsAppNumber string // NUDGE_WHATSAPP_NUMBER: E.164 digits without +
	WhatsAppText   string // NUDGE_WHATSAPP_TEXT: prefilled text, must contain {code}
	MessengerPage  string // NUDGE_MESSENGER_PAGE: page user name or id
	InstagramUser  string // NUDGE_INSTAGRAM_USERNAME: the professional account's username (without @)
	VKGroup        string // NUDGE_VK_GROUP: community screen name (e.g. club123 or growfood)
	// Accounts are the deep-link targets of the channels' accounts besides
	// main, by channel and account: NUDGE_TELEGRAM_<ACCOUNT>_BOT and the
	// like for each account listed in NUDGE_<CHANNEL>_ACCOUNTS.
	Accounts map[channels.Kind]map[string]string

	// JWT deep links.
	JWTKeys     *jwtlink.Keys // NUDGE_JWT_KEYS (see jwtlink.ParseKeys)
	JWTAudience string        // NUDGE_JWT_AUDIENCE (default "nudge")
	JWTIssuer   string        // NUDGE_JWT_ISSUER (required when keys are set)
	JWTLeeway   time.Duration // NUDGE_JWT_LEEWAY: clock skew tolerated on exp/nbf (default 30s)

	WidgetTopics   []Topic       // NUDGE_WIDGET_TOPICS: topics a widget code asks for by default (default service)
	WidgetCodeTTL  time.Duration // NUDGE_WIDGET_CODE_TTL (default 720h)
	LinkCodeTTL    time.Duration // NUDGE_LINK_CODE_TTL: code minted from a JWT (default 24h)
	WidgetRate     int           // NUDGE_WIDGET_RATE: codes per IP per minute (default 30)
	TrustForwarded bool          // NUDGE_TRUST_FORWARDED: take the client IP from X-Forwarded-For
	TextVersion    string        // NUDGE_CONSENT_TEXT_VERSION: version of the consent wording shown
}

// DefaultWhatsAppText is the prefilled WhatsApp message.
const DefaultWhatsAppText = "Хочу получать уведомления / Subscribe me: {code}"

var (
	telegramBotRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{3,31}$`)
	viberURIRE    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	waNumberRE    = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)
	messengerRE   = regexp.MustCompile(`^[A-Za-z0-9.-]{1,50}$`)
	instagramRE   = regexp.MustCompile(`^[A-Za-z0-9._]{1,30}$`)
	vkGroupRE     = regexp.MustCompile(`^[A-Za-z0-9_.]{1,32}$`)
)

// LoadConfig reads the consent configuration, recording problems on e.
func LoadConfig(e *config.Env) Config {
	c := Config{
		TelegramBot:    loadTarget(e, channels.Telegram, channels.DefaultAccount),
		ViberURI:       loadTarget(e, channels.Viber, channels.DefaultAccount),
		WhatsAppNumber: loadTarget(e, channels.WhatsApp, channels.DefaultAccount),
		WhatsAppText:   e.String("NUDGE_WHATSAPP_TEXT", DefaultWhatsAppText),
		MessengerPage:  loadTarget(e, channels.Messenger, channels.DefaultAccount),
		InstagramUser:  loadTarget(e, channels.Instagram, channels.DefaultAccount),
		VKGroup:        loadTarget(e, channels.VK, channels.DefaultAccount),
		Accounts:       loadAccountTargets(e),
		JWTAudience:    e.String("NUDGE_JWT_AUDIENCE", "nudge"),
		JWTIssuer:      e.String("NUDGE_JWT_ISSUER", ""),
		JWTLeeway:      e.Duration("NUDGE_JWT_LEEWAY", 30*time.Second),
		WidgetCodeTTL:  e.Duration("NUDGE_WIDGET_CODE_TTL", 30*24*time.Hour),
		LinkCodeTTL:    e.Duration("NUDGE_LINK_CODE_TTL", 24*time.Hour),
		WidgetRate:     e.Int("NUDGE_WIDGET_RATE", 30),
		TrustForwarded: e.Bool("NUDGE_TRUST_FORWARDED", false),
		TextVersion:    e.String("NUDGE_CONSENT_TEXT_VERSION", "2026-01"),
	}
	if c.WhatsAppNumber != "" {
		if !strings.Contains(c.WhatsAppText, "{code}") {
			e.Fail("NUDGE_WHATSAPP_TEXT", "must contain {code}, where the opt-in code goes")
		} else if len([]rune(c.WhatsAppText)) > MaxWhatsAppText-MaxCodeLen {
			e.Fail("NUDGE_WHATSAPP_TEXT", "is longer than %d characters", MaxWhatsAppText-MaxCodeLen)
		}
	}
	if spec := e.String("NUDGE_JWT_KEYS", ""); strings.TrimSpace(spec) != "" {
		keys, err := jwtlink.ParseKeys(spec)
		if err != nil {
			e.Fail("NUDGE_JWT_KEYS", "%v", err)
		} else {
			c.JWTKeys = keys
		}
		if c.JWTIssuer == "" {
			e.Fail("NUDGE_JWT_ISSUER", "is required with NUDGE_JWT_KEYS: tokens must name their issuer")
		}
	}
	if c.JWTAudience == "" {
		e.Fail("NUDGE_JWT_AUDIENCE", "must not be empty")
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > 5*time.Minute {
		e.Fail("NUDGE_JWT_LEEWAY", "must be between 0s and 5m")
	}
	if c.WidgetCodeTTL <= 0 {
		e.Fail("NUDGE_WIDGET_CODE_TTL", "must be positive")
	}
	if c.LinkCodeTTL <= 0 {
		e.Fail("NUDGE_LINK_CODE_TTL", "must be positive")
	}
	if c.WidgetRate <= 0 {
		e.Fail("NUDGE_WIDGET_RATE", "must be positive")
	}
	topics, err := ParseTopics(e.String("NUDGE_WIDGET_TOPICS", "service"))
	if err != nil {
		e.Fail("NUDGE_WIDGET_TOPICS", "%v", err)
	}
	c.WidgetTopics = topics
	return c
}

// WithDefaults fills zero durations and limits (for configs built in code).
func (c Config) WithDefaults() Config {
	if c.WhatsAppText == "" {
		c.WhatsAppText = DefaultWhatsAppText
	}
	if c.JWTAudience == "" {
		c.JWTAudience = "nudge"
	}
	if c.WidgetCodeTTL <= 0 {
		c.WidgetCodeTTL = 30 * 24 * time.Hour
	}
	if c.LinkCodeTTL <= 0 {
		c.LinkCodeTTL = 24 * time.Hour
	}
	if c.WidgetRate <= 0 {
		c.WidgetRate = 30
	}
	if len(c.WidgetTopics) == 0 {
		c.WidgetTopics = []Topic{TopicService}
	}
	if c.TextVersion == "" {
		c.TextVersion = "2026-01"
	}
	return c
}

// ParseTopics reads a comma-separated topic list (service, marketing).
func ParseTopics(s string) ([]Topic, error) {
	var ts []Topic
	seen := map[Topic]bool{}
	for _, p := range strings.Split(s, ",") {
		t := Topic(strings.TrimSpace(p))
		if t == "" {
			continue
		}
		if !ValidTopic(t) {
			return nil, errTopic(t)
		}
		if !seen[t] {
			seen[t] = true
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil, errTopic("")
	}
	return ts, nil
}

type errTopic Topic

func (e errTopic) Error() string {
	if e == "" {
		return "at least one topic (service, marketing) is required"
	}
	return fmt.Sprintf("topic %q is not service or marketing", string(e))
}
