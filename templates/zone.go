package templates

import (
	"sync"
	"time"
)

// zones caches loaded locations: time.LoadLocation reads the zone database
// on every call, and the worker asks once per run of a claim.
var zones sync.Map // name → *time.Location

// Zone returns the named location, UTC when the name is empty or unknown (an
// unknown zone must not block a message).
func Zone(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l = time.UTC
	}
	zones.Store(name, l)
	return l
}

// Location returns the subscriber's zone (UTC when unknown).
func (s Subscriber) Location() *time.Location { return Zone(s.TimeZone) }
