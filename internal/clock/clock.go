// Package clock is the injected time source: Real for production, Manual for
// tests that drive days of flow time without sleeping, and Scaled for the demo
// (a week of flow time in a couple of minutes of wall time). Background loops
// wait on the same clock through NewTicker and Loop, so a test moves them with
// Manual.Advance instead of sleeping.
package clock

import (
	"fmt"
	"sync"
	"time"
)

// Clock tells the time. Every time-based component takes one.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NowOr returns now, or time.Now when now is nil: the default of every
// constructor that takes a clock function (production passes the flow
// clock's Now; a nil one is the wall clock).
func NowOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Func adapts a function to Clock.
type Func func() time.Time

// Now calls f.
func (f Func) Now() time.Time { return f() }

// Manual is a clock that moves only when told to. Safe for concurrent use.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

// NewManual returns a manual clock set to t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the current manual time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.now = t
	m.fire()
	m.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new time.
func (m *Manual) Advance(d time.Duration) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	m.fire()
	return m.now
}

// Scaled runs Factor times faster than the wall clock from Start: after one
// wall second, Factor seconds of flow time have passed. Past Until (when
// set) it runs at real speed, so a finished demo week stops racing.
type Scaled struct {
	Start  time.Time // flow time at Origin
	Origin time.Time // wall time when the scaled clock started
	Factor float64
	Until  time.Time // flow time from which the clock runs at real speed (zero: never)
	wall   func() time.Time
}

// NewScaled returns a clock at start that runs factor times faster than real
// time from now on. Processes that must agree use Config with one Origin.
func NewScaled(start time.Time, factor float64) *Scaled {
	return &Scaled{Start: start, Origin: time.Now(), Factor: factor, wall: time.Now}
}

// Now returns the scaled flow time.
func (s *Scaled) Now() time.Time { return s.at(s.wall()) }

// String describes the clock for people: how fast it runs and, with Until,
// when it slows to real speed.
func (s *Scaled) String() string {
	const layout = "Mon 02 Jan 15:04 MST"
	out := fmt.Sprintf("%g× real time", s.Factor)
	if !s.Until.IsZero() {
		if s.Now().Before(s.Until) {
			out += ", until " + s.Until.Format(layout) + ", then real time"
		} else {
			out += " until " + s.Until.Format(layout) + ", real time since"
		}
	}
	return out
}

// at is the flow time at wall time w.
func (s *Scaled) at(w time.Time) time.Time {
	t := s.Start.Add(time.Duration(float64(w.Sub(s.Origin)) * s.Factor))
	if !s.Until.IsZero() && t.After(s.Until) {
		return s.Until.Add(w.Sub(s.wallAt(s.Until)))
	}
	return t
}

// wallAt is the wall time at which the clock shows flow time t.
func (s *Scaled) wallAt(t time.Time) time.Time {
	if !s.Until.IsZero() && t.After(s.Until) {
		return s.wallAt(s.Until).Add(t.Sub(s.Until))
	}
	return s.Origin.Add(time.Duration(float64(t.Sub(s.Start)) / s.Factor))
}
