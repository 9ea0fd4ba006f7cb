package fakekit

import "sync"

// Set holds the recipients a test has put in some state (blocked, window
// closed, unsubscribed). Safe for concurrent use.
type Set[K comparable] struct {
	mu sync.Mutex
	m  map[K]bool
}

// Add puts k in the set.
func (s *Set[K]) Add(k K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[K]bool{}
	}
	s.m[k] = true
}

// Has reports whether k is in the set.
func (s *Set[K]) Has(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}
