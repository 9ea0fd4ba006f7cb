package hooks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// gate is a receiver that records the event ids it took, in order; one that
// holds holds each request until released.
type gate struct {
	hold    bool
	arrived chan struct{}
	release chan struct{}
	mu      sync.Mutex
	took    []string
}

func newGate(t *testing.T, hold bool) (*gate, string) {
	g := &gate{hold: hold, arrived: make(chan struct{}, 10), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		g.arrived <- struct{}{}
		if g.hold {
			<-g.release
		}
		g.mu.Lock()
		g.took = append(g.took, ev.ID)
		g.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(g.release) }) // before the server closes: a held request ends
	return g, srv.URL
}

// inOrder checks that the receiver took every event once, oldest first.
func (g *gate) inOrder(t *testing.T, d *sqlx.DB) bool {
	t.Helper()
	var want []string
	if err := d.Select(&want, `SELECT 'evt_' || id FROM webhook_events ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return slices.Equal(g.taken(), want)
}

func (g *gate) taken() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.took...)
}

// deliverer sets up an endpoint at url and two events of subscriber 7 for
// it, and returns a Deliverer (its dispatcher is not started: tests run the
// task handler) and the line's task.
func deliverer(t *testing.T, d *sqlx.DB, url string) (*Deliverer, *asynq.Task) {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	if _, err := NewStore(d, clk.Now).Create(ctx, EndpointInput{URL: url, Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []Type{OptIn, Reply} {
		if err := Emit(ctx, d, 7, typ, nil, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ropt, err := asynq.ParseRedisURI(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(ropt)
	t.Cleanup(func() { client.Close() })
	dl, err := New(Config{DB: d, Clock: clk, Client: client, Queue: "nudge", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var endpoint int64
	if err := d.Get(&endpoint, `SELECT id FROM webhook_endpoints`); err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(line{endpoint, 7})
	return dl, asynq.NewTask(TypeDeliver, p)
}

// TestPostHoldsNoRowLock: while a receiver takes its time over a request,
// its delivery row is free (no transaction holds it, so no connection
// waits on the receiver); the line still posts its events one at a time, in
// order, each once.
func TestPostHoldsNoRowLock(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	g, url := newGate(t, true)
	dl, task := deliverer(t, d, url)
	done := make(chan error, 1)
	go func() { done <- dl.handle(context.Background(), task) }()
	for i := 0; i < 2; i++ {
		<-g.arrived
		var id int64
		err := d.Get(&id, `SELECT id FROM webhook_deliveries WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE NOWAIT`)
		if err != nil {
			t.Fatalf("request %d: the head's row is locked while its request waits on the receiver: %v", i+1, err)
		}
		g.release <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var delivered int
	if err := d.Get(&delivered, `SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered' AND attempts = 1 AND posting_until IS NULL`); err != nil {
		t.Fatal(err)
	}
	if delivered != 2 || !g.inOrder(t, d) {
		t.Fatalf("delivered %d, receiver took %v: want both, in order, once each", delivered, g.taken())
	}
}

// TestLeasedHeadHoldsItsLineUntilItLapses: a head another task is posting
// (its lease runs) is not posted again, nor is anything behind it; once the
// lease has lapsed (that task's worker died) the head is posted again.
func TestLeasedHeadHoldsItsLineUntilItLapses(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	g, url := newGate(t, false)
	dl, task := deliverer(t, d, url)
	d.MustExec(`UPDATE webhook_deliveries SET posting_until = now() + interval '1 hour'
	             WHERE id = (SELECT min(id) FROM webhook_deliveries)`)
	if err := dl.handle(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	if took := g.taken(); len(took) != 0 {
		t.Fatalf("posted %v while the line's head was leased by another task", took)
	}
	if n, err := dl.Dispatch(context.Background()); err != nil || n != 0 {
		t.Fatalf("dispatch queued %d tasks (%v) for a line whose head is being posted", n, err)
	}
	d.MustExec(`UPDATE webhook_deliveries SET posting_until = now() - interval '1 second' WHERE posting_until IS NOT NULL`)
	if n, err := dl.Dispatch(context.Background()); err != nil || n != 1 {
		t.Fatalf("dispatch queued %d tasks (%v) once the lease lapsed, want 1", n, err)
	}
	if err := dl.handle(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := d.Get(&pending, `SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if pending != 0 || !g.inOrder(t, d) {
		t.Fatalf("after the lease lapsed: %d pending, receiver took %v", pending, g.taken())
	}
}
