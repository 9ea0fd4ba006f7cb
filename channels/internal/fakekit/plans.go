package fakekit

import "sync"

// Plans holds what a fake does after it accepts a message (the receipts it
// sends and when): a plan per recipient, and a default for the others. Safe
// for concurrent use.
type Plans[K comparable, P any] struct {
	per  States[K, P]
	mu   sync.Mutex
	dflt *P
}

// Set scripts p for messages to k.
func (ps *Plans[K, P]) Set(k K, p P) { ps.per.Set(k, p) }

// SetDefault scripts p for recipients without their own plan.
func (ps *Plans[K, P]) SetDefault(p P) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.dflt = &p
}

// For returns k's plan, else the default; false when there is neither.
func (ps *Plans[K, P]) For(k K) (P, bool) {
	if p, ok := ps.per.Of(k); ok {
		return p, true
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.dflt != nil {
		return *ps.dflt, true
	}
	var zero P
	return zero, false
}
