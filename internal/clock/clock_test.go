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
