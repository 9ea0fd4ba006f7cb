package campaigns

import (
	"slices"
	"sort"
	"strings"

	"github.com/nudge-engine/nudge/channels"
)

// Account returns the account the campaign sends through on channel ch:
// settings.accounts[ch], or channels.DefaultAccount.
func (s Settings) Account(ch string) string { return channels.Account(s.Accounts[ch]) }

// settingsAccounts checks settings.accounts: a channel the campaign sends
// on, a valid account name, and one the install configures where known.
func (l *linter) settingsAccounts() {
	chs := make([]string, 0, len(l.def.Settings.Accounts))
	for ch := range l.def.Settings.Accounts {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	used := l.def.AllChannels()
	for _, ch := range chs {
		acc, p := l.def.Settings.Accounts[ch], "settings.accounts."+ch
		switch {
		case !channels.Kind(ch).Valid():
			l.addKey(p, "invalid-value", suggestHint(ch, channelNames()), "unknown channel %q", ch)
			continue
		case !slices.Contains(used, ch):
			l.addKey(p, "invalid-value", "add it to settings.channels or fallback, or remove the account",
				"an account for %s, which the campaign does not send on", ch)
			continue
		}
		if err := channels.CheckAccount(acc); err != nil {
			l.add(p, "invalid-value", "", "%v", err)
			continue
		}
		known, ok := l.accounts[ch]
		if ok && !slices.Contains(known, acc) {
			l.add(p, "unknown-account", "configured: "+strings.Join(known, ", ")+suggestSuffix(acc, known),
				"no %s account %q is configured (%s lists the others)", ch, acc, channels.AccountsVar(strings.ToUpper(ch)))
		}
	}
}

func suggestSuffix(s string, opts []string) string {
	if h := suggestHint(s, opts); h != "" {
		return "; " + h
	}
	return ""
}
