package fakes

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email/emailfake"
	"github.com/nudge-engine/nudge/channels/instagram/instagramfake"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// Options configure a Set.
type Options struct {
	// Now is the flow clock that stamps messages and receipts (default
	// time.Now); After runs f once d of that clock has passed (default
	// time.AfterFunc). Give both the engine's clock (clock.Config).
	Now   func() time.Time
	After func(d time.Duration, f func())
	// BaseURL is Nudge's public URL (NUDGE_BASE_URL). WhatsApp, Messenger,
	// Instagram, VK and inbound SMS post to its webhook paths; Telegram and Viber post
	// where Nudge registered its webhook. Empty: only those two post.
	BaseURL string
	// Client posts every webhook (default: 10 s timeout, system roots).
	Client *http.Client
}

// Set is one fake per provider.
type Set struct {
	Telegram  *telegramfake.Server
	Viber     *viberfake.Server
	WhatsApp  *whatsappfake.Server
	Messenger *messengerfake.Server
	Instagram *instagramfake.Server
	VK        *vkfake.Server
	SMS       *smsfake.Server
	Email     *emailfake.Server

	opt Options

	mu    sync.Mutex
	said  []Said            // what customers did through Do, for the chat pages
	names map[string]string // channel + "\x00" + user → a name for the chat pages
}

// Fixed credentials Env hands to Nudge beside the fakes' own.
const (
	TelegramWebhookSecret = "fake-webhook-secret"
	TelegramBot           = "nudge_fake_bot" // the fake bot's username, for t.me deep links
	MetaVerifyToken       = "fake-verify-token"
	InstagramUser         = "nudge.fake" // the fake account's username, for ig.me deep links
)

// Plans of the receipts the fakes send when nothing else was set: Viber,
// WhatsApp and Messenger report delivery within a minute and a read within
// the hour, Twilio delivery in a minute, VK a read in 40 minutes.
const (
	deliveredAfter = 30 * time.Second
	readAfter      = 40 * time.Minute
)

// Start starts every fake. Close it when done.
func Start(o Options) (*Set, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Set{opt: o, Telegram: telegramfake.New(), Viber: viberfake.New(), VK: vkfake.New()}
	s.Telegram.Now, s.Telegram.Client = o.Now, o.Client
	s.Viber.Now, s.Viber.After, s.Viber.Client = o.Now, o.After, o.Client
	s.Viber.SetPlan(viberfake.Plan{DeliveredAfter: deliveredAfter, SeenAfter: readAfter})
	s.VK.Now, s.VK.After, s.VK.Client = o.Now, o.After, o.Client
	s.VK.SetReadPlan(readAfter)
	s.WhatsApp = whatsappfake.New(whatsappfake.Options{Now: o.Now, After: o.After, Client: o.Client})
	s.WhatsApp.SetDefaultPlan(whatsappfake.Plan{Delivered: deliveredAfter, Read: readAfter})
	s.Messenger = messengerfake.New(messengerfake.Options{Now: o.Now, After: o.After, Client: o.Client})
	s.Messenger.SetDefaultPlan(messengerfake.Plan{Delivered: deliveredAfter, Read: readAfter})
	// Instagram sends no delivery receipts, only "seen".
	s.Instagram = instagramfake.New(instagramfake.Options{Now: o.Now, After: o.After, Client: o.Client})
	s.Instagram.SetDefaultPlan(instagramfake.Plan{Read: readAfter})
	s.SMS = smsfake.New(smsfake.Options{Now: o.Now, After: o.After, PerSecond: -1, Client: o.Client})
	s.SMS.SetDefaultPlan(smsfake.Plan{Delivered: time.Minute})
	var err error
	if s.Email, err = emailfake.New(emailfake.Options{Now: o.Now}); err != nil {
		s.Close()
		return nil, fmt.Errorf("smtp fake: %w", err)
	}
	if o.BaseURL != "" {
		s.SetBaseURL(o.BaseURL)
	}
	return s, nil
}

// SetBaseURL points the fakes that post to Nudge (WhatsApp, Messenger, VK,
// inbound SMS) at base, for a Set started before Nudge listened. Call it
// before any control call.
func (s *Set) SetBaseURL(base string) {
	s.opt.BaseURL = base
	s.WhatsApp.SetWebhook(channels.WebhookURL(base, channels.WhatsApp, ""))
	s.Messenger.SetWebhook(channels.WebhookURL(base, channels.Messenger, ""))
	s.Instagram.SetWebhook(channels.WebhookURL(base, channels.Instagram, ""))
	s.VK.SetCallback(channels.WebhookURL(base, channels.VK, ""))
	s.SMS.SetInboundURL(channels.WebhookURL(base, channels.SMS, ""))
}

// Close stops every fake.
func (s *Set) Close() {
	for _, c := range []interface{ Close() }{s.Telegram, s.Viber, s.VK, s.WhatsApp, s.Messenger, s.Instagram, s.SMS} {
		if c != nil {
			c.Close()
		}
	}
	if s.Email != nil {
		s.Email.Close()
	}
}

// Env is the configuration that points `nudge` at the fakes: every
// channel's credentials and API URL, the SMTP relay, the Meta app secret and
// the Telegram bot name for deep links.
func (s *Set) Env() map[string]string {
	so := s.SMS.Options()
	wo := s.WhatsApp.Options()
	mo := s.Messenger.Options()
	io := s.Instagram.Options()
	return map[string]string{
		"NUDGE_TELEGRAM_TOKEN": s.Telegram.Token, "NUDGE_TELEGRAM_API_URL": s.Telegram.URL,
		"NUDGE_TELEGRAM_WEBHOOK_SECRET": TelegramWebhookSecret, "NUDGE_TELEGRAM_BOT": TelegramBot,
		"NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN": telegramfake.ProviderToken,
		"NUDGE_VIBER_TOKEN":                     s.Viber.Token, "NUDGE_VIBER_API_URL": s.Viber.URL,
		"NUDGE_VK_TOKEN": s.VK.Token, "NUDGE_VK_GROUP_ID": strconv.FormatInt(s.VK.GroupID, 10),
		"NUDGE_VK_SECRET": s.VK.Secret, "NUDGE_VK_CONFIRMATION": s.VK.Confirmation, "NUDGE_VK_API_URL": s.VK.APIURL(),
		"NUDGE_WHATSAPP_TOKEN": wo.Token, "NUDGE_WHATSAPP_PHONE_NUMBER_ID": wo.PhoneNumberID, "NUDGE_WHATSAPP_API_URL": s.WhatsApp.URL(),
		"NUDGE_WHATSAPP_WABA_ID":     wo.WABAID,
		"NUDGE_MESSENGER_PAGE_TOKEN": mo.PageToken, "NUDGE_MESSENGER_API_URL": s.Messenger.URL(),
		"NUDGE_INSTAGRAM_TOKEN": io.PageToken, "NUDGE_INSTAGRAM_ACCOUNT_ID": io.PageID, "NUDGE_INSTAGRAM_API_URL": s.Instagram.URL(),
		"NUDGE_INSTAGRAM_USERNAME": InstagramUser,
		"NUDGE_META_APP_SECRET":    mo.AppSecret, "NUDGE_META_VERIFY_TOKEN": MetaVerifyToken,
		"NUDGE_TWILIO_ACCOUNT_SID": so.AccountSID, "NUDGE_TWILIO_AUTH_TOKEN": so.AuthToken, "NUDGE_TWILIO_FROM": so.From,
		"NUDGE_TWILIO_API_URL": s.SMS.URL(), "NUDGE_TWILIO_RATE": "50",
		"NUDGE_SMTP_HOST": s.Email.Host(), "NUDGE_SMTP_PORT": strconv.Itoa(s.Email.Port()), "NUDGE_SMTP_TLS": "none",
		"NUDGE_SMTP_FROM": "Nudge fakes <hello@nudge-fakes.example>",
	}
}

// errNoBaseURL is returned by control calls of fakes that post to Nudge's
// base URL when none was given.
var errNoBaseURL = errors.New("no Nudge base URL: start the fakes with --base-url (NUDGE_BASE_URL)")
