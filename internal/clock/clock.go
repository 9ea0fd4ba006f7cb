// Package clock is the injected time source: Real for production, Manual for
// tests that drive days of flow time without sleeping, and Scaled for the demo
// (a week of flow time in a couple of minutes of wall time). Background loops
// wait on the same clock through NewTicker and Loop, so a test moves them with
// Manual.Advance instead of sleeping.
package clock

import (
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
// wall second, Factor seconds of flow time have passed.
type Scaled struct {
	Start  time.Time // flow time at Origin
	Origin time.Time // wall time when the scaled clock started
	Factor float64
	wall   func() time.Time
}

// NewScaled returns a clock at start that runs factor times faster than real
// time from now on. Processes that must agree use Config with one Origin.
func NewScaled(start time.Time, factor float64) *Scaled {
	return &Scaled{Start: start, Origin: time.Now(), Factor: factor, wall: time.Now}
}

// Now returns the scaled flow time.
func (s *Scaled) Now() time.Time {
	el := s.wall().Sub(s.Origin)
	return s.Start.Add(time.Duration(float64(el) * s.Factor))
}
