package clock

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/internal/config"
)

// Config is a process's flow clock as the environment describes it. With a
// Scale other than 1 flow time runs Scale times faster than the wall clock
// and equals Start at the wall time Origin. Processes given the same three
// values agree on flow time, whenever each of them started: the demo, the
// provider fakes and a rehearsal's serve, workers and scheduler share one
// simulated week that way.
type Config struct {
	Scale  float64   // NUDGE_CLOCK_SCALE (1 = the wall clock)
	Start  time.Time // NUDGE_CLOCK_START: flow time at Origin (zero = Origin)
	Origin time.Time // NUDGE_CLOCK_ORIGIN: wall time at which flow time is Start (zero = when Clock is called)
}

// Names of the clock variables.
const (
	EnvScale  = "NUDGE_CLOCK_SCALE"
	EnvStart  = "NUDGE_CLOCK_START"
	EnvOrigin = "NUDGE_CLOCK_ORIGIN"
)

// LoadConfig reads NUDGE_CLOCK_SCALE, NUDGE_CLOCK_START and
// NUDGE_CLOCK_ORIGIN (both RFC 3339, fractional seconds allowed), recording
// problems in e.
func LoadConfig(e *config.Env) Config {
	c := Config{Scale: 1}
	if v := e.String(EnvScale, ""); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			e.Fail(EnvScale, "is not a positive number: %q", v)
		} else {
			c.Scale = f
		}
	}
	for name, dst := range map[string]*time.Time{EnvStart: &c.Start, EnvOrigin: &c.Origin} {
		v := e.String(name, "")
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			e.Fail(name, "is not an RFC 3339 time: %q", v)
			continue
		}
		*dst = t
	}
	return c
}

// Fixed returns c with an unset Origin set to now and an unset Start to
// Origin. Build a clock and the variables for other processes from one
// fixed Config, so they agree.
func (c Config) Fixed() Config {
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.Origin.IsZero() {
		c.Origin = time.Now()
	}
	if c.Start.IsZero() {
		c.Start = c.Origin
	}
	return c
}

// Clock returns the wall clock when Scale is 1, else the scaled clock (see
// Fixed for unset times).
func (c Config) Clock() Clock {
	if c.Scale == 1 || c.Scale == 0 {
		return Real{}
	}
	c = c.Fixed()
	return &Scaled{Start: c.Start, Origin: c.Origin, Factor: c.Scale, wall: time.Now}
}

// Env returns the variables that give another process this clock (none for
// the wall clock). Call it on a Fixed Config: an unset Origin here is now.
func (c Config) Env() map[string]string {
	if c.Scale == 1 || c.Scale == 0 {
		return map[string]string{}
	}
	c = c.Fixed()
	return map[string]string{
		EnvScale:  strconv.FormatFloat(c.Scale, 'g', -1, 64),
		EnvStart:  c.Start.Format(time.RFC3339Nano),
		EnvOrigin: c.Origin.Format(time.RFC3339Nano),
	}
}

// After runs f once d of flow time has passed, on the wall clock: d divided
// by Scale. Fakes schedule their delivery receipts with it.
func (c Config) After(d time.Duration, f func()) {
	s := c.Scale
	if s == 0 {
		s = 1
	}
	time.AfterFunc(time.Duration(float64(d)/s), f)
}

// String describes the clock for logs.
func (c Config) String() string {
	if c.Scale == 1 || c.Scale == 0 {
		return "wall clock"
	}
	return fmt.Sprintf("%gx from %s at %s", c.Scale, c.Start.Format(time.RFC3339), c.Origin.Format(time.RFC3339))
}
