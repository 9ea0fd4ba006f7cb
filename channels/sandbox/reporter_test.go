package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestReporterDeliversOnTheClock(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
	s := New(Config{DB: d, Now: clk.Now, Default: Behavior{Report: channels.EventDelivered, ReportAfter: 3 * time.Minute}})
	// The receiver is connected after the sandbox, as the engine is.
	got := make(chan channels.Event, 1)
	s.ReportStatusesTo(func(_ context.Context, ev channels.Event) error { got <- ev; return nil })
	r := NewReporter(s, clk, time.Minute, nil)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	res, err := s.Send(ctx, channels.Message{IdempotencyKey: "k1", To: "42", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Minute)
	select {
	case ev := <-got:
		if ev.Type != channels.EventDelivered || ev.ProviderMessageID != res.ProviderID {
			t.Fatalf("report %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the report was not delivered after its delay")
	}
	if s.Pending() != 0 {
		t.Fatalf("%d reports left", s.Pending())
	}
}
