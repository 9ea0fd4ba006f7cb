package fakekit

import "time"

// Window counts events in a sliding span of time, the way providers count
// requests against a rate limit. It is not safe for concurrent use: the
// fake's own lock guards it with the rest of its state.
type Window struct {
	at []time.Time
}

// Full forgets events older than span before now and reports whether limit
// events remain, i.e. whether one more would exceed the limit.
func (w *Window) Full(now time.Time, span time.Duration, limit int) bool {
	keep := w.at[:0]
	for _, t := range w.at {
		if now.Sub(t) < span {
			keep = append(keep, t)
		}
	}
	w.at = keep
	return len(w.at) >= limit
}

// Admit reports whether one more event at now stays within limit events
// per span and, if so, counts it. A limit of 0 or less admits everything
// and counts nothing.
func (w *Window) Admit(now time.Time, span time.Duration, limit int) bool {
	if limit <= 0 {
		return true
	}
	if w.Full(now, span, limit) {
		return false
	}
	w.Add(now)
	return true
}

// Add counts an event at now.
func (w *Window) Add(now time.Time) { w.at = append(w.at, now) }

// Windows keeps one Window per key (a chat, a receiver).
type Windows[K comparable] map[K]*Window

// Of returns k's window, creating it empty.
func (ws Windows[K]) Of(k K) *Window {
	w := ws[k]
	if w == nil {
		w = &Window{}
		ws[k] = w
	}
	return w
}
