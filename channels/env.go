package channels

import (
	"strings"

	"github.com/nudge-engine/nudge/internal/config"
)

// EnvVar names an environment variable of a channel account: EnvVar("VIBER",
// "", "TOKEN") is NUDGE_VIBER_TOKEN and EnvVar("VIBER", "shop-2", "TOKEN") is
// NUDGE_VIBER_SHOP_2_TOKEN. "", "default" and DefaultAccount name the
// unprefixed default account. The
// account is upper-cased and every character but A-Z and 0-9 becomes "_".
func EnvVar(channel, account, key string) string {
	if account == "" || account == "default" || account == DefaultAccount {
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

// LoadAPIURL reads a provider's API base URL from the variable name: an
// http or https URL, dflt when unset, without a trailing slash. Tests and
// the demo point it at the provider's fake.
func LoadAPIURL(e *config.Env, name, dflt string) string {
	return strings.TrimRight(e.URL(name, dflt, "http", "https"), "/")
}
