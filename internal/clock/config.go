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
	Until  time.Time // NUDGE_CLOCK_UNTIL: flow time from which the clock runs at real speed (zero = never)
}

// Names of the clock variables.
const (
	EnvScale  = "NUDGE_CLOCK_SCALE"
	EnvStart  = "NUDGE_CLOCK_START"
	EnvOrigin = "NUDGE_CLOCK_ORIGIN"
	EnvUntil  = "NUDGE_CLOCK_UNTIL"
)

// LoadConfig reads NUDGE_CLOCK_SCALE, NUDGE_CLOCK_START, NUDGE_CLOCK_ORIGIN
// and NUDGE_CLOCK_UNTIL (the times RFC 3339, fractional seconds allowed),
// recording problems in e.
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
	for name, dst := range map[string]*time.Time{EnvStart: &c.Start, EnvOrigin: &c.Origin, EnvUntil: &c.Until} {
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
		// Without the monotonic reading, as other processes parse it: every
		// clock made from the Config then measures on the same wall clock.
		c.Origin = time.Now().Round(0)
	}
	if c.Start.IsZero() {
		c.Start = c.Origin
	}
	return c
}

// Clock returns the wall clock when Scale is 1 and no Start is set, else
// the scaled clock (see Fixed for unset times). A Start at Scale 1 is a
// clock set to that time that runs at real speed: NUDGE_CLOCK_START alone
// is not ignored.
func (c Config) Clock() Clock {
	if c.wall() {
		return Real{}
	}
	return c.scaled()
}

// wall says whether c is the wall clock itself.
func (c Config) wall() bool { return (c.Scale == 1 || c.Scale == 0) && c.Start.IsZero() }

func (c Config) scaled() *Scaled {
	c = c.Fixed()
	return &Scaled{Start: c.Start, Origin: c.Origin, Factor: c.Scale, Until: c.Until, wall: time.Now}
}

// Env returns the variables that give another process this clock (none for
// the wall clock). Call it on a Fixed Config: an unset Origin here is now.
func (c Config) Env() map[string]string {
	if c.wall() {
		return map[string]string{}
	}
	c = c.Fixed()
	env := map[string]string{
		EnvScale:  strconv.FormatFloat(c.Scale, 'g', -1, 64),
		EnvStart:  c.Start.Format(time.RFC3339Nano),
		EnvOrigin: c.Origin.Format(time.RFC3339Nano),
	}
	if !c.Until.IsZero() {
		env[EnvUntil] = c.Until.Format(time.RFC3339Nano)
	}
	return env
}

// After runs f once d of flow time has passed, on the wall clock: d divided
// by Scale (d itself past Until). Fakes schedule their delivery receipts with it.
func (c Config) After(d time.Duration, f func()) {
	if c.Scale == 1 || c.Scale == 0 {
		time.AfterFunc(d, f)
		return
	}
	s := c.scaled()
	now := time.Now()
	time.AfterFunc(s.wallAt(s.at(now).Add(d)).Sub(now), f)
}

// String describes the clock for logs.
func (c Config) String() string {
	if c.wall() {
		return "wall clock"
	}
	out := fmt.Sprintf("%gx from %s at %s", c.Scale, c.Start.Format(time.RFC3339), c.Origin.Format(time.RFC3339))
	if !c.Until.IsZero() {
		out += ", real time from " + c.Until.Format(time.RFC3339)
	}
	return out
}
