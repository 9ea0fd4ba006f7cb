package worker

import (
	"fmt"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/policy"
)

// Run states.
const (
	StateActive  = "active"
	StateWaiting = "waiting"
	StatePaused  = "paused"
	StateDone    = "done"
	StateFailed  = "failed"
)

// stepIndex returns the index of step id ("" = the first step), or -1.
func stepIndex(def *campaigns.Definition, id string) int {
	if id == "" && len(def.Steps) > 0 {
		return 0
	}
	for i, s := range def.Steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// nextOf is the step after i: its Next, else the following step, else "" (end).
func nextOf(def *campaigns.Definition, i int) string {
	if def.Steps[i].Next != "" {
		return def.Steps[i].Next
	}
	if i+1 < len(def.Steps) {
		return def.Steps[i+1].ID
	}
	return ""
}

// transition is one run's move, applied with compare-and-set on its seq.
type transition struct {
	ID     int64
	Seq    int
	State  string
	Step   string
	NextAt *time.Time
	Ctx    map[string]any
}

// settle moves a run to step target as of now: the pure steps are resolved
// at once (end → done, wait_reply → waiting until its timeout, wait → the
// following step at the wait's time); every other step becomes due now.
func settle(def *campaigns.Definition, id int64, seq int, target string, now time.Time, loc *time.Location) transition {
	tr := transition{ID: id, Seq: seq}
	i := stepIndex(def, target)
	if target == "" || i < 0 {
		tr.State, tr.Step = StateDone, target
		if target != "" {
			tr.State = StateFailed
			tr.Ctx = map[string]any{"error": fmt.Sprintf("step %q not found", target)}
		}
		return tr
	}
	s := def.Steps[i]
	tr.Step = def.Steps[i].ID
	switch {
	case s.End != nil:
		tr.State = StateDone
	case s.WaitReply != nil:
		t := now.Add(s.WaitReply.Timeout.D())
		tr.State, tr.NextAt = StateWaiting, &t
	case s.Wait != nil:
		t, err := waitTime(s.Wait, now, loc)
		if err != nil {
			tr.State, tr.Ctx = StateFailed, map[string]any{"error": err.Error()}
			return tr
		}
		next := nextOf(def, i)
		if next == "" {
			tr.State, tr.Step = StateDone, ""
			return tr
		}
		tr.State, tr.Step, tr.NextAt = StateActive, next, &t
	default:
		t := now
		tr.State, tr.NextAt = StateActive, &t
	}
	return tr
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// waitTime is when a wait step ends: now + For, or the next local time
// "HH:MM" (optionally "ddd HH:MM") strictly after now in loc.
func waitTime(w *campaigns.WaitStep, now time.Time, loc *time.Location) (time.Time, error) {
	if w.Until == "" {
		return now.Add(w.For.D()), nil
	}
	fields := strings.Fields(strings.ToLower(w.Until))
	day := time.Weekday(-1)
	if len(fields) == 2 {
		d, ok := weekdays[fields[0][:min(3, len(fields[0]))]]
		if !ok {
			return time.Time{}, fmt.Errorf("wait until %q: unknown weekday", w.Until)
		}
		day, fields = d, fields[1:]
	}
	if len(fields) != 1 {
		return time.Time{}, fmt.Errorf("wait until %q: want \"HH:MM\" or \"fri HH:MM\"", w.Until)
	}
	mins, err := policy.ParseClock(fields[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("wait until %q: %w", w.Until, err)
	}
	h, m := mins/60, mins%60
	l := now.In(loc)
	for i := 0; i <= 8; i++ {
		d := l.AddDate(0, 0, i)
		t := time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
		if t.After(now) && (day < 0 || t.Weekday() == day) {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("wait until %q: no time found", w.Until)
}
