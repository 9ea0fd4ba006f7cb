package fakekit

import "sync"

// States holds the state a test has put recipients in until it clears it:
// a failure every send to them answers. Safe for concurrent use.
type States[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

// Set puts k in state v.
func (s *States[K, V]) Set(k K, v V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[K]V{}
	}
	s.m[k] = v
}

// Clear takes k out of any state.
func (s *States[K, V]) Clear(k K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
}

// Of returns k's state; false when it has none.
func (s *States[K, V]) Of(k K) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok
}

// Set holds the recipients a test has flagged (blocked, window closed,
// unsubscribed).
type Set[K comparable] struct{ States[K, struct{}] }

// Add flags k.
func (s *Set[K]) Add(k K) { s.Set(k, struct{}{}) }

// Has reports whether k is flagged.
func (s *Set[K]) Has(k K) bool {
	_, ok := s.Of(k)
	return ok
}

// Failures are the failures a test scripts for recipients: Once queues one
// for the next send to k, Put keeps one for every send until it is cleared.
type Failures[K, F comparable] struct {
	once     OnceBy[K, F]
	standing States[K, F]
}

// Once queues f for the next send to k; several calls queue.
func (s *Failures[K, F]) Once(k K, f F) { s.once.Add(k, f) }

// Put makes every send to k fail with f; the zero F (a code of 0) clears it.
func (s *Failures[K, F]) Put(k K, f F) {
	var none F
	if f == none {
		s.standing.Clear(k)
		return
	}
	s.standing.Set(k, f)
}

// For is the failure the next send to k meets: a queued one first, then
// k's standing one; false when there is none. A queued zero F fails
// nothing: it lets one send through, so a test can fail the second.
func (s *Failures[K, F]) For(k K) (F, bool) {
	var none F
	if f, ok := s.once.Next(k); ok && f != none {
		return f, true
	}
	return s.standing.Of(k)
}
