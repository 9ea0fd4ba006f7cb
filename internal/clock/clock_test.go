package clock

import (
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/config"
)

func TestManual(t *testing.T) {
	t0 := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	m := NewManual(t0)
	if !m.Now().Equal(t0) {
		t.Fatalf("Now = %v, want %v", m.Now(), t0)
	}
	if got := m.Advance(36 * time.Hour); !got.Equal(t0.Add(36 * time.Hour)) {
		t.Fatalf("Advance = %v", got)
	}
	m.Set(t0)
	if !m.Now().Equal(t0) {
		t.Fatalf("Set: Now = %v", m.Now())
	}
}

func TestScaled(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	wall := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Scaled{Start: start, Origin: wall, Factor: 3600, wall: func() time.Time { return wall.Add(2 * time.Second) }}
	if got, want := s.Now(), start.Add(2*time.Hour); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}

// TestConfigSharedOrigin: two processes reading the same variables at
// different wall times tell the same flow time; without an origin each
// starts its own.
func TestConfigSharedOrigin(t *testing.T) {
	origin := time.Now().Add(-3 * time.Second)
	start := time.Date(2027, 6, 30, 21, 0, 0, 0, time.UTC)
	vars := Config{Scale: 3600, Start: start, Origin: origin}.Env()
	load := func() Config {
		e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		c := LoadConfig(e)
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := load().Clock()
	time.Sleep(20 * time.Millisecond)
	b := load().Clock()
	d := a.Now().Sub(b.Now())
	if d < 0 {
		d = -d
	}
	// The two reads are a few microseconds of wall time apart: at 3600x a
	// few tens of milliseconds of flow time, never the 72 s a second origin
	// 20 ms later would make.
	if d > time.Second {
		t.Fatalf("clocks from the same variables differ by %v", d)
	}
	if got := a.Now(); got.Sub(start) < 3*time.Hour-time.Minute {
		t.Fatalf("flow time %v: the 3 s of wall time since the origin (3 h of flow) are missing", got)
	}
	if _, ok := (Config{Scale: 1}).Clock().(Real); !ok {
		t.Fatal("scale 1 is not the wall clock")
	}
	// A start alone sets the clock and runs it at real speed, in this
	// process and in the ones that get its variables.
	set := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	fixed := Config{Scale: 1, Start: set}.Fixed()
	for _, c := range []Clock{fixed.Clock(), clockFrom(t, fixed.Env())} {
		if d := c.Now().Sub(set); d < 0 || d > time.Minute {
			t.Fatalf("NUDGE_CLOCK_START at scale 1: flow time %v, want just after %v", c.Now(), set)
		}
	}
	delete(vars, EnvOrigin)
	c1, c2 := load().Fixed(), load()
	time.Sleep(10 * time.Millisecond)
	if c2.Fixed().Origin.Equal(c1.Origin) {
		t.Fatal("without NUDGE_CLOCK_ORIGIN each process should start its own origin")
	}
}

func TestConfigErrors(t *testing.T) {
	vars := map[string]string{EnvScale: "-2", EnvStart: "tomorrow", EnvOrigin: "2026-13-01T00:00:00Z"}
	e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	LoadConfig(e)
	err := e.Err()
	for _, name := range []string{EnvScale, EnvStart, EnvOrigin} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// TestScaledUntil: past Until the clock runs at real speed, so the demo's
// figures stop racing once its week is over.
func TestScaledUntil(t *testing.T) {
	start := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	wall := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	until := start.Add(7 * 24 * time.Hour)
	el := 0 * time.Second
	s := &Scaled{Start: start, Origin: wall, Factor: 6000, Until: until, wall: func() time.Time { return wall.Add(el) }}
	el = 60 * time.Second
	if got, want := s.Now(), start.Add(100*time.Hour); !got.Equal(want) {
		t.Fatalf("before Until: Now = %v, want %v", got, want)
	}
	// The week takes 604800/6000 = 100.8 s of wall time; 10 s after that
	// the clock is 10 s past Until, not 16.7 h.
	el = 110800 * time.Millisecond
	if got, want := s.Now(), until.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("after Until: Now = %v, want %v", got, want)
	}
	if got, want := s.wallAt(until.Add(10*time.Second)), wall.Add(el); !got.Equal(want) {
		t.Fatalf("wallAt = %v, want %v", got, want)
	}
}

// clockFrom is the clock another process builds from vars.
func clockFrom(t *testing.T, vars map[string]string) Clock {
	t.Helper()
	e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	c := LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	return c.Clock()
}

func TestNowOrDefaultsToTheWallClock(t *testing.T) {
	fixed := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if got := NowOr(func() time.Time { return fixed })(); !got.Equal(fixed) {
		t.Fatalf("NowOr(f)() = %v, want f's %v", got, fixed)
	}
	before := time.Now()
	if got := NowOr(nil)(); got.Before(before) || got.After(time.Now()) {
		t.Fatalf("NowOr(nil)() = %v, want the wall clock's now", got)
	}
}
