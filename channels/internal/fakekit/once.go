package fakekit

import "sync"

// Once is a queue of scripted answers (failures a test asks for), each
// played once, in order: Add queues one. Safe for concurrent use.
type Once[T any] struct{ Log[T] }

// Next takes the oldest queued answer; false when none is left.
func (o *Once[T]) Next() (T, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var v T
	if len(o.items) == 0 {
		return v, false
	}
	v, o.items = o.items[0], o.items[1:]
	return v, true
}

// OnceBy keeps a Once queue per key (a chat, a receiver, a peer).
type OnceBy[K comparable, T any] struct {
	mu sync.Mutex
	m  map[K]*Once[T]
}

func (o *OnceBy[K, T]) of(k K) *Once[T] {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[K]*Once[T]{}
	}
	q := o.m[k]
	if q == nil {
		q = &Once[T]{}
		o.m[k] = q
	}
	return q
}

// Add queues v for k.
func (o *OnceBy[K, T]) Add(k K, v T) { o.of(k).Add(v) }

// Next takes k's oldest queued answer; false when none is left.
func (o *OnceBy[K, T]) Next(k K) (T, bool) { return o.of(k).Next() }
