package scheduler

import (
	"errors"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrSchedule is wrapped by every invalid schedule trigger.
var ErrSchedule = errors.New("invalid schedule")

// ZoneSubscriber is the Timezone value meaning "each subscriber's own zone".
const ZoneSubscriber = "subscriber"

// WallLayout formats an occurrence's local wall time in its trigger_key.
const WallLayout = "2006-01-02T15:04"

// Occurrence is one firing of a schedule in one zone.
type Occurrence struct {
	// Wall is the nominal local wall time (the fields matter, the location is
	// UTC); it names the occurrence in trigger_key.
	Wall time.Time
	// At is the instant it fires.
	At time.Time
}

// Key is the trigger_key of runs created by o.
func (o Occurrence) Key() string { return "schedule:" + o.Wall.Format(WallLayout) }

// maxOccurrences bounds one Occurrences call (a minutely spec over a day is 1440).
const maxOccurrences = 10000

// Occurrences returns the occurrences of sched in loc whose instants lie in
// (after, upTo], in order.
//
// The spec is evaluated on the local wall clock (DST-free), then each wall
// time is placed on the timeline deliberately:
//   - a wall time that exists once fires then;
//   - a wall time repeated by a fall-back change (01:30 twice) fires once, at
//     its first (earlier, daylight-time) instant;
//   - a wall time skipped by a spring-forward gap (02:30 when clocks jump
//     from 02:00 to 03:00) fires once, shifted forward by the length of the
//     gap (03:30), unless the spec also fires at that shifted wall time, in
//     which case the skipped one is dropped so nobody gets two messages at
//     the same instant.
func Occurrences(sched cron.Schedule, loc *time.Location, after, upTo time.Time) []Occurrence {
	if !upTo.After(after) {
		return nil
	}
	// Walk wall times from a little before `after`: a gap shift moves an
	// instant later than its wall time, so start early and filter on At.
	w := wallOf(after.In(loc)).Add(-3 * time.Hour)
	end := wallOf(upTo.In(loc)).Add(3 * time.Hour)
	var out []Occurrence
	for i := 0; i < maxOccurrences*4; i++ {
		w = sched.Next(w)
		if w.IsZero() || w.After(end) {
			break
		}
		at, gap := resolve(w, loc)
		if gap {
			shifted := wallOf(at.In(loc))
			if sched.Next(shifted.Add(-time.Second)).Equal(shifted) {
				continue
			}
		}
		if at.After(after) && !at.After(upTo) {
			out = append(out, Occurrence{Wall: w, At: at})
			if len(out) >= maxOccurrences {
				break
			}
		}
	}
	return out
}

// wallOf returns t's wall clock fields as a UTC time.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// resolve places the wall time w (fields in UTC) on the timeline of loc; gap
// reports that w does not exist there (spring forward). See Occurrences for
// the rule; time.Date leaves the choice unspecified, so it is made here.
func resolve(w time.Time, loc *time.Location) (at time.Time, gap bool) {
	// Offsets in effect well before and well after w: zone transitions are
	// months apart, so these are the two sides of any change near w.
	_, before := w.Add(-48 * time.Hour).In(loc).Zone()
	_, after := w.Add(48 * time.Hour).In(loc).Zone()
	cb := w.Add(-time.Duration(before) * time.Second)
	ca := w.Add(-time.Duration(after) * time.Second)
	okb := wallOf(cb.In(loc)).Equal(w)
	oka := wallOf(ca.In(loc)).Equal(w)
	switch {
	case okb && oka:
		if ca.Before(cb) {
			return ca, false
		}
		return cb, false
	case okb:
		return cb, false
	case oka:
		return ca, false
	default:
		// Skipped: keep the offset from before the change, which lands the
		// gap's length after the nominal time.
		return cb, true
	}
}
