package consent

import (
	"fmt"

	"sort"
	"strings"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/config"
)

// linkTarget is how a channel's deep-link target is configured and checked:
// NUDGE_<env>_<setting> for the account main, NUDGE_<env>_<ACCOUNT>_<setting>
// for the others listed in NUDGE_<env>_ACCOUNTS.
type linkTarget struct {
	env, setting string
	trim         string // a prefix people write and the link does not take (@, +)
	ok           func(string) bool
	want         string // what a valid value is, for the error
}

var linkTargets = map[channels.Kind]linkTarget{
	channels.Telegram: {"TELEGRAM", "BOT", "@", func(v string) bool {
		return telegramBotRE.MatchString(v) && strings.HasSuffix(strings.ToLower(v), "bot")
	}, "is not a bot username (5-32 characters of A-Z a-z 0-9 _, ending in bot)"},
	channels.Viber:     {"VIBER", "URI", "", viberURIRE.MatchString, "is not a Viber public account URI (1-64 characters of A-Z a-z 0-9 _ . -)"},
	channels.WhatsApp:  {"WHATSAPP", "NUMBER", "+", waNumberRE.MatchString, "is not an international number in digits (7-15 digits, no leading 0)"},
	channels.Messenger: {"MESSENGER", "PAGE", "", messengerRE.MatchString, "is not a page user name or id (1-50 characters of A-Z a-z 0-9 . -)"},
	channels.Instagram: {"INSTAGRAM", "USERNAME", "@", instagramRE.MatchString, "is not an Instagram username (1-30 characters of A-Z a-z 0-9 . _)"},
	channels.VK:        {"VK", "GROUP", "", vkGroupRE.MatchString, "is not a community screen name (1-32 characters of A-Z a-z 0-9 _ .)"},
}

// loadTarget reads and checks the deep-link target of ch's account.
func loadTarget(e *config.Env, ch channels.Kind, account string) string {
	lt := linkTargets[ch]
	name := channels.EnvVar(lt.env, account, lt.setting)
	v := strings.TrimPrefix(strings.TrimSpace(e.String(name, "")), lt.trim)
	if v != "" && !lt.ok(v) {
		e.Fail(name, "%q %s", v, lt.want)
	}
	return v
}

// loadAccountTargets reads the deep-link targets of the accounts besides
// main listed in NUDGE_<CHANNEL>_ACCOUNTS (NUDGE_TELEGRAM_BRAND_B_BOT, …).
func loadAccountTargets(e *config.Env) map[channels.Kind]map[string]string {
	out := map[channels.Kind]map[string]string{}
	for _, ch := range LinkChannels {
		for _, acc := range channels.LoadAccounts(e, linkTargets[ch].env)[1:] {
			if v := loadTarget(e, ch, acc); v != "" {
				if out[ch] == nil {
					out[ch] = map[string]string{}
				}
				out[ch][acc] = v
			}
		}
	}
	return out
}

// targetOf is the deep-link target of ch's account ("" when it has none).
func (c Config) targetOf(ch channels.Kind, account string) string {
	if account = channels.Account(account); account == channels.DefaultAccount {
		return c.target(ch)
	}
	return c.Accounts[ch][account]
}

// linkAccounts lists ch's accounts with a deep link: main first.
func (c Config) linkAccounts(ch channels.Kind) []string {
	var out []string
	if c.target(ch) != "" {
		out = append(out, channels.DefaultAccount)
	}
	others := make([]string, 0, len(c.Accounts[ch]))
	for acc := range c.Accounts[ch] {
		others = append(others, acc)
	}
	sort.Strings(others)
	return append(out, others...)
}

// linkLabel is a button's text: the channel, and the account when it is
// not main.
func linkLabel(ch channels.Kind, account string) string {
	if account == channels.DefaultAccount {
		return ChannelLabel(ch)
	}
	return fmt.Sprintf("%s (%s)", ChannelLabel(ch), account)
}
