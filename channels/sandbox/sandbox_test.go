package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestSendDedupesScriptsAndReports(t *testing.T) {
	d := testenv.DB(t)
	clk := clock.NewManual(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	var statuses, replies []channels.Event
	s := New(Config{DB: d, Now: clk.Now,
		Replies:  &ReplyModel{Positive: 1, Min: time.Minute, Max: 2 * time.Minute},
		Statuses: func(_ context.Context, ev channels.Event) error { statuses = append(statuses, ev); return nil },
		Inbound:  func(_ context.Context, ev channels.Event) error { replies = append(replies, ev); return nil },
	})
	ctx := context.Background()
	s.Script("read", Behavior{Report: channels.EventRead, ReportAfter: 5 * time.Minute})
	s.Script("blocked", Behavior{Fail: channels.Blocked})
	s.Script("busy", Behavior{RateLimitOnce: true, RetryAfter: 3 * time.Second})

	m := channels.Message{IdempotencyKey: "k1", Channel: channels.Sandbox, To: "read", Text: "Привет",
		Buttons: []channels.Button{{ID: "yes", Text: "Да"}, {ID: "no", Text: "Нет"}}}
	r1, err := s.Send(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Send(ctx, m) // the same key again: the provider dedupes
	if err != nil || r2.ProviderID != r1.ProviderID {
		t.Fatalf("second send: %+v %v, want the first provider id %s", r2, err, r1.ProviderID)
	}
	var n int
	if err := d.Get(&n, `SELECT count(*) FROM sandbox_sends`); err != nil || n != 1 {
		t.Fatalf("recorded sends = %d (%v), want 1", n, err)
	}
	if _, err := s.Send(ctx, channels.Message{IdempotencyKey: "k2", To: "blocked"}); channels.KindOf(err) != channels.Blocked {
		t.Fatalf("blocked address: %v", err)
	}
	_, err = s.Send(ctx, channels.Message{IdempotencyKey: "k3", To: "busy"})
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != channels.RateLimited || ce.RetryAfter != 3*time.Second {
		t.Fatalf("429 once: %v", err)
	}
	if _, err := s.Send(ctx, channels.Message{IdempotencyKey: "k3", To: "busy"}); err != nil {
		t.Fatalf("after the 429: %v", err)
	}
	// Nothing is due yet; after 5 minutes the read status and the reply are.
	if k, _ := s.Tick(ctx); k != 0 {
		t.Fatalf("delivered %d events before they were due", k)
	}
	clk.Advance(5 * time.Minute)
	if k, err := s.Tick(ctx); err != nil || k != 2 {
		t.Fatalf("Tick = %d, %v; want 2", k, err)
	}
	if len(statuses) != 1 || statuses[0].Type != channels.EventRead || statuses[0].ProviderMessageID != r1.ProviderID {
		t.Fatalf("statuses = %+v", statuses)
	}
	if len(replies) != 1 || replies[0].Payload != "yes" || replies[0].From != "read" {
		t.Fatalf("replies = %+v", replies)
	}
}

func TestSendBatchRecordsOnce(t *testing.T) {
	d := testenv.DB(t)
	s := New(Config{DB: d})
	msgs := []channels.Message{{IdempotencyKey: "a", To: "1"}, {IdempotencyKey: "b", To: "2"}, {IdempotencyKey: "a", To: "1"}}
	res, errs := s.SendBatch(context.Background(), msgs[:2])
	for i := range res {
		if errs[i] != nil || res[i].ProviderID == "" {
			t.Fatalf("batch[%d]: %+v %v", i, res[i], errs[i])
		}
	}
	if _, errs := s.SendBatch(context.Background(), msgs[2:]); errs[0] != nil {
		t.Fatal(errs[0])
	}
	var n int
	if err := d.Get(&n, `SELECT count(*) FROM sandbox_sends`); err != nil || n != 2 {
		t.Fatalf("recorded = %d (%v), want 2", n, err)
	}
}

// ended is a context whose Err says it ended while its Done stays open, as
// a worker's batch context does once its consent hold ends: a sender hands
// nothing more over, and a call already under way is not cut short.
type ended struct{ context.Context }

func (ended) Err() error { return context.Canceled }

// TestSendsAskTheContextBeforeTheHandOver: neither Send nor SendBatch (bulk
// or one by one) records a message once its context says it ended.
func TestSendsAskTheContextBeforeTheHandOver(t *testing.T) {
	d := testenv.DB(t)
	s := New(Config{DB: d, Now: time.Now})
	s.Script("scripted", Behavior{Report: channels.EventRead})
	ctx := ended{context.Background()}
	if _, err := s.Send(ctx, channels.Message{IdempotencyKey: "one", To: "a", Text: "x"}); channels.KindOf(err) != channels.Transient {
		t.Errorf("Send: %v, want a transient error", err)
	}
	_, errs := s.SendBatch(ctx, []channels.Message{{IdempotencyKey: "bulk", To: "b", Text: "x"}, {IdempotencyKey: "alone", To: "scripted", Text: "x"}})
	for i, err := range errs {
		if channels.KindOf(err) != channels.Transient {
			t.Errorf("SendBatch message %d: %v, want a transient error", i, err)
		}
	}
	var n int
	if err := d.Get(&n, `SELECT count(*) FROM sandbox_sends`); err != nil || n != 0 {
		t.Fatalf("%d messages recorded (%v), want none", n, err)
	}
}
