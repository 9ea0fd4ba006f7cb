package campaigns

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "90s", "15m", "48h", "7d" or "2w"
// (also combined: "1d12h").
type Duration time.Duration

// ParseDuration parses the campaign duration syntax.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("invalid duration %q: want a number and a unit (s, m, h, d, w), e.g. 15m or 7d", s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: number too large", s)
		}
		var unit time.Duration
		switch rest[i] {
		case 's':
			unit = time.Second
		case 'm':
			unit = time.Minute
		case 'h':
			unit = time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'w':
			unit = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use s, m, h, d, w)", s, rest[i])
		}
		total += time.Duration(n) * unit
		if total > 3650*24*time.Hour {
			return 0, fmt.Errorf("invalid duration %q: longer than 10 years", s)
		}
		rest = rest[i+1:]
	}
	return Duration(total), nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d in the campaign syntax (largest whole units).
func (d Duration) String() string {
	t := time.Duration(d)
	if t == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		c rune
		d time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}, {'h', time.Hour}, {'m', time.Minute}, {'s', time.Second}} {
		if t >= u.d {
			fmt.Fprintf(&b, "%d%c", t/u.d, u.c)
			t %= u.d
		}
	}
	return b.String()
}

// UnmarshalText implements encoding.TextUnmarshaler (YAML and JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
