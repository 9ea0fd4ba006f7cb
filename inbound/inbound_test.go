package inbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// routes is a fake of every route that records the events reaching it;
// replyFunc, when set, replaces the recording reply.
type routes struct {
	mu        sync.Mutex
	seen      []string
	startErr  error
	replyFunc func(ctx context.Context, ev channels.Event) error
}

func (r *routes) record(kind string, ev channels.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, kind+":"+ev.ProviderEventID)
}

func (r *routes) Start(_ context.Context, ev channels.Event) (int64, error) {
	if r.startErr != nil {
		return 0, r.startErr
	}
	r.record("start", ev)
	return 1, nil
}

func (r *routes) OptOut(_ context.Context, ev channels.Event) error {
	r.record("opt_out", ev)
	return nil
}

func (r *routes) ApplyWebhook(_ context.Context, ev channels.Event) error {
	r.record("status", ev)
	return nil
}

func (r *routes) Reply(ctx context.Context, ev channels.Event) error {
	if r.replyFunc != nil {
		return r.replyFunc(ctx, ev)
	}
	r.record("reply", ev)
	return nil
}

func (r *routes) list() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, " ")
}

// connected returns a sink routing everything to r.
func connected(t *testing.T, d *sqlx.DB, r *routes, now func() time.Time) *Sink {
	s := New(d, quiet(), now)
	s.Connect(Routes{Consent: r, Statuses: r, Replies: r})
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDuplicateDeliveriesHaveOneEffect(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	c := &routes{}
	s := connected(t, d, c, nil)
	ev := channels.Event{Type: channels.EventText, Channel: channels.Telegram, ProviderEventID: "u1", From: "42", Text: "вкусно"}
	ctx := context.Background()
	// The same event three times, also concurrently.
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Accept(ctx, []channels.Event{ev}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := c.list(); got != "reply:u1" {
		t.Fatalf("effects: %q, want one reply", got)
	}
	var n int
	d.Get(&n, `SELECT count(*) FROM inbound_events`)
	if n != 1 {
		t.Fatalf("%d rows stored", n)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	c := &routes{}
	s := connected(t, d, c, nil)
	evs := []channels.Event{
		{Type: channels.EventStart, Code: "abc", ProviderEventID: "1", Locale: "en"},
		{Type: channels.EventText, Text: "STOP", ProviderEventID: "2"},
		{Type: channels.EventButton, Payload: "unsubscribe", ProviderEventID: "3"},
		{Type: channels.EventButton, Payload: "like", ProviderEventID: "4"},
		{Type: channels.EventDelivered, ProviderMessageID: "m1", ProviderEventID: "5"},
		{Type: channels.EventOptOut, ProviderEventID: "6"},
	}
	ack, err := s.Accept(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Welcome != consent.Welcome("en") {
		t.Errorf("welcome %q", ack.Welcome)
	}
	want := "start:1 opt_out:2 opt_out:3 reply:4 status:5 opt_out:6"
	if got := c.list(); got != want {
		t.Fatalf("routing:\n got %s\nwant %s", got, want)
	}
}

func TestFailedProcessingIsRetriedNotLost(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	var fails atomic.Int32
	fails.Store(2)
	c := &routes{}
	c.replyFunc = func(ctx context.Context, ev channels.Event) error {
		if fails.Add(-1) >= 0 {
			return errors.New("database hiccup")
		}
		c.record("reply", ev)
		return nil
	}
	s := connected(t, d, c, nil)
	ctx := context.Background()
	// Storing succeeds even though processing fails: the webhook answers 2xx.
	if _, err := s.Accept(ctx, []channels.Event{{Type: channels.EventText, ProviderEventID: "x", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	if c.list() != "" {
		t.Fatal("processed despite the failure")
	}
	for i := 0; i < 3 && c.list() == ""; i++ {
		if _, err := s.Reconcile(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.list(); got != "reply:x" {
		t.Fatalf("after reconcile: %q", got)
	}
	// Nothing is left pending and a further reconcile does nothing.
	if n, _ := s.Reconcile(ctx, 10); n != 0 {
		t.Fatalf("reprocessed %d", n)
	}
	var result string
	d.Get(&result, `SELECT result FROM inbound_events`)
	if result != "reply" {
		t.Fatalf("result %q", result)
	}
}

func TestClaimExpiresAfterCrash(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	now := time.Now()
	c := &routes{}
	s := connected(t, d, c, func() time.Time { return now })
	ctx := context.Background()
	// Simulate a processor that claimed the event and died.
	if _, err := d.Exec(`INSERT INTO inbound_events (channel, provider_event_id, type, event, claimed_until, attempts)
		VALUES ('telegram', 'z', 'text', '{"Type":"text","ProviderEventID":"z"}', $1, 1)`, now.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Reconcile(ctx, 10); n != 0 || c.list() != "" {
		t.Fatal("a live claim was taken over")
	}
	now = now.Add(time.Minute)
	if _, err := s.Reconcile(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if c.list() != "reply:z" {
		t.Fatalf("expired claim not retried: %q", c.list())
	}
}

func TestEventWithoutIDIsRefused(t *testing.T) {
	t.Parallel()
	s := New(testenv.DB(t), quiet(), nil)
	if _, err := s.Accept(context.Background(), []channels.Event{{Type: channels.EventText}}); err == nil {
		t.Fatal("want an error: the provider must retry rather than lose dedupe")
	}
}

func TestBatchIsStoredAllOrNothing(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	// Make storing the second event fail.
	d.MustExec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.provider_event_id = 'boom' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$`)
	d.MustExec(`CREATE TRIGGER refuse BEFORE INSERT ON inbound_events FOR EACH ROW EXECUTE FUNCTION refuse()`)
	c := &routes{}
	s := connected(t, d, c, nil)
	_, err := s.Accept(context.Background(), []channels.Event{
		{Type: channels.EventText, ProviderEventID: "ok", Text: "a"},
		{Type: channels.EventText, ProviderEventID: "boom", Text: "b"},
	})
	if err == nil {
		t.Fatal("want an error")
	}
	var n int
	d.Get(&n, `SELECT count(*) FROM inbound_events`)
	if n != 0 || c.list() != "" {
		t.Fatalf("%d rows stored, effects %q", n, c.list())
	}
}

func TestReconcileLeavesAnEventBeingProcessed(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	c := &routes{}
	s := connected(t, d, c, nil)
	c.replyFunc = func(ctx context.Context, ev channels.Event) error {
		// The reconciler runs while Accept is still processing the event.
		if n, err := s.Reconcile(ctx, 10); n != 0 || err != nil {
			t.Errorf("reconcile took %d events, %v", n, err)
		}
		c.record("reply", ev)
		return nil
	}
	if _, err := s.Accept(ctx, []channels.Event{{Type: channels.EventText, ProviderEventID: "p", Text: "hi"}}); err != nil {
		t.Fatal(err)
	}
	if got := c.list(); got != "reply:p" {
		t.Fatalf("effects %q", got)
	}
	var attempts int
	var result string
	d.QueryRow(`SELECT attempts, result FROM inbound_events`).Scan(&attempts, &result)
	if attempts != 1 || result != "reply" {
		t.Fatalf("attempts %d, result %q", attempts, result)
	}
}

func TestSlowBatchKeepsItsClaims(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	c := &routes{}
	s := connected(t, d, c, clock)
	c.replyFunc = func(ctx context.Context, ev channels.Event) error {
		switch ev.ProviderEventID {
		case "1": // slow: the claim of event 2 is renewed before it is processed
			advance(20 * time.Second)
		case "2": // slow too: the claim event 3 got when stored expires and the reconciler takes it
			advance(20 * time.Second)
			if n, err := s.Reconcile(ctx, 10); n != 1 || err != nil {
				t.Errorf("reconcile took %d events, %v", n, err)
			}
		}
		c.record("reply", ev)
		return nil
	}
	evs := []channels.Event{
		{Type: channels.EventText, ProviderEventID: "1"},
		{Type: channels.EventText, ProviderEventID: "2"},
		{Type: channels.EventText, ProviderEventID: "3"},
	}
	if _, err := s.Accept(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if got := c.list(); got != "reply:1 reply:3 reply:2" {
		t.Fatalf("effects %q", got)
	}
	var pending int
	d.Get(&pending, `SELECT count(*) FROM inbound_events WHERE processed_at IS NULL`)
	if pending != 0 {
		t.Fatalf("%d events left", pending)
	}
}

// TestOutcomeCommitsAsynchronously: the statement that records an event's
// outcome turns synchronous_commit off for its own transaction and for no
// other on its connection.
func TestOutcomeCommitsAsynchronously(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	c := &routes{}
	s := connected(t, d, c, nil)
	ctx := context.Background()
	ev := channels.Event{Type: channels.EventText, Channel: channels.Telegram, ProviderEventID: "a1", From: "42", Text: "да"}
	if _, err := s.Accept(ctx, []channels.Event{ev}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := d.Get(&id, `SELECT id FROM inbound_events WHERE provider_event_id = 'a1' AND processed_at IS NOT NULL`); err != nil {
		t.Fatalf("the event's outcome: %v", err)
	}
	conn, err := d.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, qDone, id, time.Now(), "reply"); err != nil {
		t.Fatal(err)
	}
	var in, after string
	if err := tx.GetContext(ctx, &in, `SHOW synchronous_commit`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := conn.GetContext(ctx, &after, `SHOW synchronous_commit`); err != nil {
		t.Fatal(err)
	}
	if in != "off" || after != "on" {
		t.Fatalf("synchronous_commit %q in the outcome's transaction, %q after it; want off, then on", in, after)
	}
}
