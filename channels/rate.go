package channels

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nudge-engine/nudge/internal/config"
)

// ParseRate reads a sending rate: messages a second ("1000", "0.5"), or a
// count per unit ("20/s", "20/m", "100/h"). "0" means no limit. It returns
// messages per second.
func ParseRate(s string) (float64, error) {
	num, unit, hasUnit := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	if hasUnit {
		switch strings.TrimSpace(unit) {
		case "s":
		case "m":
			per = 60
		case "h":
			per = 3600
		default:
			return 0, fmt.Errorf("unit %q: use /s, /m or /h", unit)
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a rate: a number of messages (1000, 0.5, 20/m, 100/h; 0 = unlimited)", s)
	}
	return n / per, nil
}

// LoadRate returns dflt with its account-wide rate read from the variable
// name (ParseRate's forms; 0 = unlimited), or dflt itself when the variable
// is unset or empty. The per-recipient limits stay the provider's. A bad
// value is reported through e.
func LoadRate(e *config.Env, name string, dflt Rate) Rate {
	v := e.String(name, "")
	if strings.TrimSpace(v) == "" {
		return dflt
	}
	perSecond, err := ParseRate(v)
	if err != nil {
		e.Fail(name, "%v", err)
		return dflt
	}
	dflt.PerSecond = perSecond
	return dflt
}
