package meta

import "strings"

// Var names an environment variable of a channel account: Var("WHATSAPP", "",
// "TOKEN") is NUDGE_WHATSAPP_TOKEN and Var("WHATSAPP", "shop2", "TOKEN") is
// NUDGE_WHATSAPP_SHOP2_TOKEN. Non-alphanumerics of the account become "_".
func Var(channel, account, key string) string {
	if account == "" {
		return "NUDGE_" + channel + "_" + key
	}
	acc := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, account)
	return "NUDGE_" + channel + "_" + acc + "_" + key
}
