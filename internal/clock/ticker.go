package clock

import (
	"fmt"
	"time"
)

// Ticker delivers ticks every period of a clock's time. Loops read the clock
// when a tick arrives rather than trusting the tick's value.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// ticking is a clock that makes its own tickers: Real, Manual and Scaled.
// minWall matters only to Scaled (see Loop.MinWall).
type ticking interface {
	newTicker(d, minWall time.Duration) Ticker
}

// NewTicker returns a ticker firing every d of c's time: on the wall clock
// for Real (and for a Func, which has no other time base), every d/Factor of
// wall time for Scaled, and on Advance or Set for Manual.
func NewTicker(c Clock, d time.Duration) (Ticker, error) { return newTicker(c, d, 0) }

func newTicker(c Clock, d, minWall time.Duration) (Ticker, error) {
	if d <= 0 {
		return nil, fmt.Errorf("clock: ticker period must be positive, got %s", d)
	}
	if t, ok := c.(ticking); ok {
		return t.newTicker(d, minWall), nil
	}
	return Real{}.newTicker(d, minWall), nil
}

// wallTicker adapts time.Ticker.
type wallTicker struct{ t *time.Ticker }

func (w wallTicker) C() <-chan time.Time { return w.t.C }
func (w wallTicker) Stop()               { w.t.Stop() }

func (Real) newTicker(d, _ time.Duration) Ticker { return wallTicker{time.NewTicker(d)} }

// MinScaledTick is the shortest wall-time period of a Scaled ticker: at demo
// speeds a minute of flow time lasts milliseconds, and a loop polling
// Postgres that often would only burn CPU.
const MinScaledTick = 100 * time.Millisecond

// newTicker fires every d of flow time, that is every d/Factor of wall time,
// but not more often than MinScaledTick or minWall.
func (s *Scaled) newTicker(d, minWall time.Duration) Ticker {
	return wallTicker{time.NewTicker(s.wallPeriod(d, minWall))}
}

func (s *Scaled) wallPeriod(d, minWall time.Duration) time.Duration {
	return max(time.Duration(float64(d)/s.Factor), MinScaledTick, minWall)
}

// manualTicker fires when its Manual clock is moved past its next tick.
type manualTicker struct {
	m    *Manual
	d    time.Duration
	next time.Time // guarded by m.mu
	c    chan time.Time
}

func (t *manualTicker) C() <-chan time.Time { return t.c }

// Stop detaches the ticker from its clock; no tick arrives after it returns.
func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	for i, x := range t.m.tickers {
		if x == t {
			t.m.tickers = append(t.m.tickers[:i], t.m.tickers[i+1:]...)
			return
		}
	}
}

// newTicker returns a ticker that fires when Advance or Set moves the clock to
// or past its next tick, d after the previous one. Like time.Ticker it holds
// one tick: ticks the reader has not taken yet are dropped, and one Advance
// over several periods fires once.
func (m *Manual) newTicker(d, _ time.Duration) Ticker {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &manualTicker{m: m, d: d, next: m.now.Add(d), c: make(chan time.Time, 1)}
	m.tickers = append(m.tickers, t)
	return t
}

// fire sends a tick on every ticker that is due at m.now. Called with m.mu held.
func (m *Manual) fire() {
	for _, t := range m.tickers {
		if m.now.Before(t.next) {
			continue
		}
		select {
		case t.c <- m.now:
		default: // the reader is behind: drop the tick, as time.Ticker does
		}
		// The next tick is the first period boundary after now.
		t.next = t.next.Add((m.now.Sub(t.next)/t.d + 1) * t.d)
	}
}
