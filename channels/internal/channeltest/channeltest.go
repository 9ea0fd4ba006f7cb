// Package channeltest holds what the adapters' tests share: a Sink that
// records the events a webhook hands on, Timers that hold a fake's scheduled
// receipts until the test runs them, a webhook server per test, a Rig that
// wires an adapter to its fake both ways, and the checks every adapter must
// pass alike (sends, refused and rate-limited sends, signed webhooks, parsed
// events and fixture tables, files users send and their downloads) and its
// send and parse benchmarks.
package channeltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/fakekit"
	"github.com/nudge-engine/nudge/internal/config"
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

// Webhook serves the adapter's webhook, which newWebhook builds for cfg
// around a fresh Sink, and returns the Sink and the server.
func Webhook[C any](t testing.TB, newWebhook func(C, channels.Sink, *slog.Logger) http.Handler, cfg C) (*Sink, *httptest.Server) {
	t.Helper()
	sink := &Sink{}
	return sink, Serve(t, newWebhook(cfg, sink, nil))
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

// WantSignedOnly checks what a webhook signed with an HMAC of its body must
// do before it parses anything: body posted to url without header is
// refused 401; signed with another secret, signed over another body or
// carrying any of the bad header values, 403; signed with secret it is
// taken (200). sign is the provider's signature, the value of header.
func WantSignedOnly(t testing.TB, url, header string, body []byte, secret string, sign func(secret string, body []byte) string, bad ...string) {
	t.Helper()
	type attempt struct {
		name, sig string
		status    int
	}
	cases := []attempt{
		{"unsigned", "", http.StatusUnauthorized},
		{"another secret", sign("not-"+secret, body), http.StatusForbidden},
		{"another body", sign(secret, append(append([]byte(nil), body...), ' ')), http.StatusForbidden},
	}
	for _, sig := range bad {
		cases = append(cases, attempt{sig, sig, http.StatusForbidden})
	}
	cases = append(cases, attempt{"signed", sign(secret, body), http.StatusOK})
	for _, tc := range cases {
		if st, _ := Post(t, url, "", body, map[string]string{header: tc.sig}); st != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, st, tc.status)
		}
	}
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

// Env is an environment of exactly vars, for a LoadConfig under test.
func Env(vars map[string]string) *config.Env {
	return &config.Env{
		Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Names:  func() []string { return slices.Collect(maps.Keys(vars)) },
	}
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

// WantRefused sends m through c and fails the test unless the send fails
// with kind and code and the fake accepted nothing (sent counts the messages
// it accepted). It returns the error for further checks.
func WantRefused(t testing.TB, c channels.Sender, m channels.Message, kind channels.ErrorKind, code string, sent func() int) *channels.Error {
	t.Helper()
	_, err := c.Send(context.Background(), m)
	ce := WantError(t, err, kind, code)
	if n := sent(); n != 0 {
		t.Fatalf("refused send recorded: %d accepted", n)
	}
	return ce
}

// SendError is one refused send of a table: Script (optional) prepares the
// fake F, then Msg must fail with Kind and Code.
type SendError[F any] struct {
	Name   string
	Script func(F)
	Msg    channels.Message
	Kind   channels.ErrorKind
	Code   string
}

// SendErrors runs each case as a subtest with WantRefused, on a fresh rig
// from setup: nothing may reach its fake.
func SendErrors[F interface{ Accepted() int }, C channels.Sender, Cfg any](t *testing.T, setup func(t *testing.T) *Rig[F, C, Cfg], cases []SendError[F]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			r := setup(t)
			if tc.Script != nil {
				tc.Script(r.Fake)
			}
			WantRefused(t, r.Client, tc.Msg, tc.Kind, tc.Code, r.Fake.Accepted)
		})
	}
}

// Shape is one case of a send-shape table: Msg goes out as Parts requests,
// which Check inspects as the fake recorded them (S).
type Shape[S any] struct {
	Name  string
	Msg   channels.Message
	Parts int
	Check func(t *testing.T, sent []S)
}

// SendShapes sends each case's Msg as a subtest through the client of a
// fresh setup (sent returns what its fake recorded) and fails it unless
// the fake recorded Parts requests, the last one with the result's
// ProviderID as its id (mid), before Check looks at them.
func SendShapes[S any](t *testing.T, setup func(t *testing.T) (c channels.Sender, sent func() []S), mid func(S) string, cases []Shape[S]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			c, sentFn := setup(t)
			res := Send(t, c, tc.Msg)
			sent := sentFn()
			if len(sent) != tc.Parts || mid(sent[len(sent)-1]) != res.ProviderID {
				t.Fatalf("%d parts, result %q: %+v", len(sent), res.ProviderID, sent)
			}
			tc.Check(t, sent)
		})
	}
}

// RateLimitedThenSent checks what every adapter promises of a rate-limited
// send, the fake having been told to refuse the next one: the send of m
// fails RateLimited with code and a RetryAfter of retryAfter (any positive
// one when 0) and nothing is accepted; the retry goes through and exactly one
// message is accepted (sent counts them).
func RateLimitedThenSent(t testing.TB, c channels.Sender, m channels.Message, code string, retryAfter time.Duration, sent func() int) {
	t.Helper()
	ce := WantRefused(t, c, m, channels.RateLimited, code, sent)
	if ce.RetryAfter <= 0 || (retryAfter != 0 && ce.RetryAfter != retryAfter) {
		t.Fatalf("RetryAfter %v, want %v", ce.RetryAfter, retryAfter)
	}
	// The worker retries after RetryAfter; here the retry happens at once.
	if _, err := c.Send(context.Background(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := sent(); n != 1 {
		t.Fatalf("%d messages accepted, want exactly 1", n)
	}
}

// Ask is the feedback question with two reply buttons that the bot
// adapters' send benchmarks send.
func Ask() channels.Message {
	return channels.Message{Text: "Понравилась еда? / Did you like the food?", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}}}
}

// BenchSend measures c.Send of m, which vary changes for iteration i (a new
// recipient, a new idempotency key) before it is sent.
func BenchSend(b *testing.B, c channels.Sender, m channels.Message, vary func(m *channels.Message, i int)) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		vary(&m, i)
		if _, err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// WantEvents fails the test unless there are as many evs as want and each,
// as view sees it (the fields the test checks), is its want.
func WantEvents[W comparable](t testing.TB, evs []channels.Event, want []W, view func(channels.Event) W) {
	t.Helper()
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		if g := view(evs[i]); g != w {
			t.Errorf("event %d: %+v, want %+v", i, g, w)
		}
	}
}

// BenchParse measures parse of the fixture name from testdata, counting
// its bytes; an error from parse fails the benchmark.
func BenchParse(b *testing.B, name string, parse func(body []byte) error) {
	b.Helper()
	body := Testdata(b, name)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// OneEvent checks what parsing the fixture file gave: no event when typ is
// "", else exactly one event of type typ, which it returns with true for
// the test's further checks. Anything else fails the test.
func OneEvent(t testing.TB, file string, evs []channels.Event, typ channels.EventType) (channels.Event, bool) {
	t.Helper()
	switch {
	case typ == "":
		if len(evs) != 0 {
			t.Errorf("%s: %+v, want no event", file, evs)
		}
	case len(evs) != 1 || evs[0].Type != typ:
		t.Errorf("%s: %+v, want one %s event", file, evs, typ)
	default:
		return evs[0], true
	}
	return channels.Event{}, false
}

// Fetcher is an adapter that downloads the attachments users send.
type Fetcher interface {
	Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error)
}

// WantFile fetches a with a 1 MiB cap and fails the test unless it gets
// data, typed mime and named name.
func WantFile(t testing.TB, c Fetcher, a channels.Attachment, data []byte, mime, name string) {
	t.Helper()
	f, err := c.Fetch(context.Background(), a, 1<<20)
	if err != nil {
		t.Fatalf("fetch %s: %v", a.Kind, err)
	}
	if !bytes.Equal(f.Data, data) || f.MIME != mime || f.Name != name {
		t.Errorf("fetched %s: %q %q %q", a.Kind, f.Data[:min(10, len(f.Data))], f.MIME, f.Name)
	}
}

// WantTooLarge fetches a with the cap max and fails the test unless it is
// refused as too large. A size other than 0 is the one the provider stated
// and the refusal must name; with 0 the download itself stops at the cap.
func WantTooLarge(t testing.TB, c Fetcher, a channels.Attachment, max, size int64) {
	t.Helper()
	_, err := c.Fetch(context.Background(), a, max)
	tl, ok := channels.IsTooLarge(err)
	switch {
	case !ok:
		t.Errorf("past the cap of %d: %v", max, err)
	case size != 0 && (tl.Size != size || tl.Max != max):
		t.Errorf("over the cap: %v, want size %d max %d", err, size, max)
	}
}

// ImageURLs is an album of n image URLs (…/menu/1.jpg, 2.jpg, …).
func ImageURLs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://static.growfood.example/menu/%d.jpg", i+1)
	}
	return out
}

// Send sends m through c and fails the test if the send fails.
func Send(t testing.TB, c channels.Sender, m channels.Message) channels.Result {
	t.Helper()
	res, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send to %s: %v", m.To, err)
	}
	return res
}
