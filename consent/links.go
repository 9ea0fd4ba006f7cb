package consent

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/nudge-engine/nudge/channels"
)

// MaxWhatsAppText bounds the prefilled WhatsApp text (code included). WhatsApp
// documents no limit for it; a short text keeps the link well inside URL limits.
const MaxWhatsAppText = 500

// MaxLinkLen bounds every deep link (common URL limits of browsers and apps).
const MaxLinkLen = 2000

// LinkChannels are the channels that have opt-in deep links, in button order.
var LinkChannels = []channels.Kind{channels.Telegram, channels.Viber, channels.WhatsApp, channels.Messenger, channels.Instagram, channels.VK}

// ErrChannelNotConfigured is returned for a deep link to a channel without
// configuration (or one that has no deep links, like SMS).
var ErrChannelNotConfigured = errors.New("channel has no deep link configured")

// ErrBadCode is returned for a code a channel cannot carry.
var ErrBadCode = errors.New("code cannot be carried by this channel")

// refLimits are the per-channel limits on the value that carries the code,
// beyond ValidCode (which every code meets).
var refLimits = map[channels.Kind]struct {
	max int
	re  *regexp.Regexp
}{
	// start payload: ≤64 characters of A-Z a-z 0-9 _ - (Bot API deep linking).
	channels.Telegram: {64, regexp.MustCompile(`^[A-Za-z0-9_-]+$`)},
	// context: "no length limit (up to URL length)"; we keep codes short anyway.
	channels.Viber: {MaxCodeLen, regexp.MustCompile(`^[A-Za-z0-9_-]+$`)},
	// ref: <150 characters of alphanumerics and + - . / : = _ (Meta docs).
	channels.Messenger: {149, regexp.MustCompile(`^[A-Za-z0-9+\-./:=_]+$`)},
	// ref: ≤2,083 characters of A-Z a-z 0-9 _ = - (ig.me links doc).
	channels.Instagram: {MaxCodeLen, regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)},
	// ref: undocumented limits; stay in the Telegram alphabet and length.
	channels.VK: {MaxCodeLen, regexp.MustCompile(`^[A-Za-z0-9_-]+$`)},
	// the code travels inside the prefilled text; ExtractCode finds it there.
	channels.WhatsApp: {MaxCodeLen, regexp.MustCompile(`^[A-Za-z0-9_-]+$`)},
}

// Enabled lists the channels with a configured deep link (of any
// account), in button order.
func (c Config) Enabled() []channels.Kind {
	var out []channels.Kind
	for _, ch := range LinkChannels {
		if len(c.linkAccounts(ch)) > 0 {
			out = append(out, ch)
		}
	}
	return out
}

func (c Config) target(ch channels.Kind) string {
	switch ch {
	case channels.Telegram:
		return c.TelegramBot
	case channels.Viber:
		return c.ViberURI
	case channels.WhatsApp:
		return c.WhatsAppNumber
	case channels.Messenger:
		return c.MessengerPage
	case channels.Instagram:
		return c.InstagramUser
	case channels.VK:
		return c.VKGroup
	}
	return ""
}

// DeepLink returns the link that opens channel ch's main account with code
// attached.
func (c Config) DeepLink(ch channels.Kind, code string) (string, error) {
	return c.DeepLinkOf(ch, channels.DefaultAccount, code)
}

// DeepLinkOf returns the link that opens channel ch's account (the bot,
// number, page or community the customer opts in on) with code attached.
func (c Config) DeepLinkOf(ch channels.Kind, account, code string) (string, error) {
	lim, ok := refLimits[ch]
	target := c.targetOf(ch, account)
	if !ok || target == "" {
		return "", fmt.Errorf("%w: %s account %s", ErrChannelNotConfigured, ch, channels.Account(account))
	}
	if !ValidCode(code) || len(code) > lim.max || !lim.re.MatchString(code) {
		return "", fmt.Errorf("%w: %s carries at most %d characters of its alphabet", ErrBadCode, ch, lim.max)
	}
	var link string
	switch ch {
	case channels.Telegram:
		link = "https://t.me/" + url.PathEscape(target) + "?start=" + code
	case channels.Viber:
		link = "viber://pa?chatURI=" + url.QueryEscape(target) + "&context=" + code
	case channels.Messenger:
		link = "https://m.me/" + url.PathEscape(target) + "?ref=" + code
	case channels.Instagram:
		// The Messenger Platform's form; the ref arrives as a
		// messaging_referral (existing thread) or on the icebreaker
		// postback of a new one.
		link = "https://ig.me/m/" + url.PathEscape(target) + "?ref=" + code
	case channels.VK:
		link = "https://vk.me/" + url.PathEscape(target) + "?ref=" + code
	case channels.WhatsApp:
		text := c.WhatsAppText
		if text == "" {
			text = DefaultWhatsAppText
		}
		text = strings.ReplaceAll(text, "{code}", code)
		if len([]rune(text)) > MaxWhatsAppText {
			return "", fmt.Errorf("%w: WhatsApp text is longer than %d characters", ErrBadCode, MaxWhatsAppText)
		}
		// %20 for spaces: wa.me documents URL-encoded text, and "+" is not
		// decoded as a space by every client.
		link = "https://wa.me/" + target + "?text=" + strings.ReplaceAll(url.QueryEscape(text), "+", "%20")
	}
	if len(link) > MaxLinkLen {
		return "", fmt.Errorf("%w: link is longer than %d bytes", ErrBadCode, MaxLinkLen)
	}
	return link, nil
}

// Link is one channel button.
type Link struct {
	Channel channels.Kind `json:"channel"`
	Account string        `json:"account"`
	Label   string        `json:"label"`
	URL     string        `json:"url"`
}

// ChannelLabel is the channel's name on a button.
func ChannelLabel(ch channels.Kind) string {
	switch ch {
	case channels.Telegram:
		return "Telegram"
	case channels.Viber:
		return "Viber"
	case channels.WhatsApp:
		return "WhatsApp"
	case channels.Messenger:
		return "Messenger"
	case channels.Instagram:
		return "Instagram"
	case channels.VK:
		return "VK"
	}
	return string(ch)
}

// Links returns a button per account with a deep link for code, each
// channel's main account first.
func (c Config) Links(code string) ([]Link, error) {
	var out []Link
	for _, ch := range c.Enabled() {
		for _, acc := range c.linkAccounts(ch) {
			u, err := c.DeepLinkOf(ch, acc, code)
			if err != nil {
				return nil, err
			}
			out = append(out, Link{Channel: ch, Account: acc, Label: linkLabel(ch, acc), URL: u})
		}
	}
	return out, nil
}

var codeInTextRE = regexp.MustCompile(`[A-Za-z0-9_-]{16,64}`)

// CodeCandidates returns the tokens of an inbound text that may be opt-in
// codes: "/start CODE" (Telegram) or a code inside free text (WhatsApp's
// prefilled message, which the customer may have edited). At most three.
func CodeCandidates(text string) []string {
	text = strings.TrimSpace(text)
	if rest, ok := strings.CutPrefix(text, "/start"); ok {
		if f := strings.Fields(rest); len(f) > 0 && ValidCode(f[0]) {
			return []string{f[0]}
		}
	}
	var out []string
	for _, m := range codeInTextRE.FindAllStringIndex(text, 8) {
		// A whole token only: not a slice of a longer word.
		if m[0] > 0 && isCodeByte(text[m[0]-1]) || m[1] < len(text) && isCodeByte(text[m[1]]) {
			continue
		}
		out = append(out, text[m[0]:m[1]])
		if len(out) == 3 {
			break
		}
	}
	return out
}

func isCodeByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}
