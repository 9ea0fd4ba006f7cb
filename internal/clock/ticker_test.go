package clock

import (
	"context"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// ticked reports whether a tick is waiting on tk, and its value.
func ticked(tk Ticker) (time.Time, bool) {
	select {
	case at := <-tk.C():
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestManualTickerFiresOnAdvance(t *testing.T) {
	m := NewManual(t0)
	tk, err := NewTicker(m, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	m.Advance(59 * time.Second)
	if _, ok := ticked(tk); ok {
		t.Fatal("ticked before its period")
	}
	m.Advance(time.Second)
	if at, ok := ticked(tk); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("tick at one minute: %v, %v", at, ok)
	}
	// One Advance over several periods fires once; the next tick is on the
	// period grid after the new time.
	m.Advance(150 * time.Second) // 3m30s
	if _, ok := ticked(tk); !ok {
		t.Fatal("no tick after 150 s")
	}
	if _, ok := ticked(tk); ok {
		t.Fatal("a long advance fired more than once")
	}
	m.Advance(29 * time.Second) // 3m59s
	if _, ok := ticked(tk); ok {
		t.Fatal("ticked off the grid")
	}
	m.Set(t0.Add(4 * time.Minute))
	if _, ok := ticked(tk); !ok {
		t.Fatal("Set past the next tick did not fire")
	}
	// A tick the reader did not take is dropped, not queued.
	m.Advance(time.Minute)
	m.Advance(time.Minute)
	if _, ok := ticked(tk); !ok {
		t.Fatal("no tick")
	}
	if _, ok := ticked(tk); ok {
		t.Fatal("an untaken tick was queued")
	}
	tk.Stop()
	m.Advance(time.Hour)
	if _, ok := ticked(tk); ok {
		t.Fatal("ticked after Stop")
	}
}

func TestNewTickerRefusesNonPositivePeriod(t *testing.T) {
	for _, c := range []Clock{Real{}, NewManual(t0), NewScaled(t0, 60), Func(time.Now)} {
		if _, err := NewTicker(c, 0); err == nil {
			t.Errorf("%T: want an error for a zero period", c)
		}
	}
}

func TestScaledTickerRunsOnFlowTime(t *testing.T) {
	s := NewScaled(t0, 3600)
	if got := s.wallPeriod(2*time.Hour, 0); got != 2*time.Second {
		t.Errorf("2h of flow at 3600x = %v of wall time, want 2s", got)
	}
	if got := s.wallPeriod(time.Minute, 0); got != MinScaledTick {
		t.Errorf("1m of flow at 3600x = %v, want the floor %v", got, MinScaledTick)
	}
	if got := s.wallPeriod(5*time.Second, 5*time.Second); got != 5*time.Second {
		t.Errorf("5s of flow with a 5s wall minimum = %v, want 5s", got)
	}
}

func TestLoopTicksOnManualClock(t *testing.T) {
	m := NewManual(t0)
	ticks := make(chan time.Time)
	l := &Loop{Clock: m, Every: 5 * time.Second, Tick: func(ctx context.Context) { ticks <- m.Now() }}
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background()); err != ErrStarted {
		t.Fatalf("second Start: %v", err)
	}
	for i := 1; i <= 3; i++ {
		m.Advance(5 * time.Second)
		if at := <-ticks; !at.Equal(t0.Add(time.Duration(i) * 5 * time.Second)) {
			t.Fatalf("tick %d at %v", i, at)
		}
	}
	l.Stop()
	l.Stop() // harmless
	m.Advance(time.Hour)
	select {
	case <-ticks:
		t.Fatal("ticked after Stop")
	default:
	}
	// A stopped loop can start again.
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Advance(5 * time.Second)
	<-ticks
	l.Stop()
}

func TestLoopEndsWithItsContext(t *testing.T) {
	m := NewManual(t0)
	ctx, cancel := context.WithCancel(context.Background())
	l := &Loop{Clock: m, Every: time.Second, Tick: func(context.Context) {}}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	l.Stop() // returns: the goroutine ended with ctx
}

func TestLoopRefusesBadConfig(t *testing.T) {
	for name, l := range map[string]*Loop{
		"no clock":    {Every: time.Second, Tick: func(context.Context) {}},
		"no tick":     {Clock: Real{}, Every: time.Second},
		"zero period": {Clock: Real{}, Tick: func(context.Context) {}},
	} {
		if err := l.Start(context.Background()); err == nil {
			l.Stop()
			t.Errorf("%s: want an error", name)
		}
	}
}
