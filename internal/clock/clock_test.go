package clock

import (
	"testing"
	"time"
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
