package channels

import "strings"

// EnvVar names an environment variable of a channel account: EnvVar("VIBER",
// "", "TOKEN") is NUDGE_VIBER_TOKEN and EnvVar("VIBER", "shop-2", "TOKEN") is
// NUDGE_VIBER_SHOP_2_TOKEN. The account is upper-cased and every character
// but A-Z and 0-9 becomes "_".
func EnvVar(channel, account, key string) string {
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
