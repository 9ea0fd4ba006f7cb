package fakekit

import "sync"

// Files keeps the files users send (F, a fake's record of one) by the key
// the fake serves each under, and counts the ones it served. Safe for
// concurrent use.
type Files[F any] struct {
	mu     sync.Mutex
	byKey  map[string]F
	served int
}

// Put keeps f under key.
func (fs *Files[F]) Put(key string, f F) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.byKey == nil {
		fs.byKey = map[string]F{}
	}
	fs.byKey[key] = f
}

// Get returns the file under key.
func (fs *Files[F]) Get(key string) (F, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.byKey[key]
	return f, ok
}

// CountServed counts one file served.
func (fs *Files[F]) CountServed() {
	fs.mu.Lock()
	fs.served++
	fs.mu.Unlock()
}

// Served is how many files were served.
func (fs *Files[F]) Served() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.served
}
