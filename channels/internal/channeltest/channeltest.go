// Package channeltest holds what the adapters' tests share: a Sink that
// records the events a webhook hands on, Timers that hold a fake's scheduled
// receipts until the test runs them, and a webhook server per test.
package channeltest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// Sink is a channels.Sink that records what it is given.
type Sink struct {
	// Err, when set, is what Accept returns (and the events are not kept),
	// as when the database is down.
	Err error
	// Welcome is the Ack's welcome text.
	Welcome string

	mu     sync.Mutex
	events []channels.Event
	calls  int
}

// Accept records evs.
func (s *Sink) Accept(_ context.Context, evs []channels.Event) (channels.Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.Err != nil {
		return channels.Ack{}, s.Err
	}
	s.events = append(s.events, evs...)
	return channels.Ack{Welcome: s.Welcome}, nil
}

// Got returns the events kept and how many times Accept was called.
func (s *Sink) Got() ([]channels.Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]channels.Event(nil), s.events...), s.calls
}

// Events returns the events kept.
func (s *Sink) Events() []channels.Event {
	evs, _ := s.Got()
	return evs
}

// Calls is how many times Accept was called.
func (s *Sink) Calls() int {
	_, n := s.Got()
	return n
}

// Timers collects a fake's scheduled callbacks (its After option) so the
// test runs them when it chooses.
type Timers struct {
	mu sync.Mutex
	fs []func()
}

// After keeps f; the delay is ignored.
func (q *Timers) After(_ time.Duration, f func()) {
	q.mu.Lock()
	q.fs = append(q.fs, f)
	q.mu.Unlock()
}

// Run runs and forgets the callbacks kept so far, in order.
func (q *Timers) Run() {
	q.mu.Lock()
	fs := q.fs
	q.fs = nil
	q.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Serve starts h on a local test server that closes when the test ends.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Post POSTs body to url as a provider would (contentType "" sends none;
// empty header values are not sent) and returns the status and the answer;
// a transport error fails the test.
func Post(t testing.TB, url, contentType string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	st, ans, err := fakekit.Post(context.Background(), http.DefaultClient, url, contentType, body, header)
	if err != nil {
		t.Fatal(err)
	}
	return st, ans
}

// Testdata reads the fixture name from the package's testdata folder; a
// missing fixture fails the test.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WantError fails the test unless err is a *channels.Error of kind with
// code, and returns it.
func WantError(t testing.TB, err error, kind channels.ErrorKind, code string) *channels.Error {
	t.Helper()
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != kind || ce.Code != code {
		t.Fatalf("got %v, want %s (%s)", err, kind, code)
	}
	return ce
}
