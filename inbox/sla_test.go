package inbox

import (
	"context"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestSLAFlaggerRunsOnTheClock(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	clk := clock.NewManual(*e.now)
	svc := NewService(e.db, nil, e.runs, e.router.log, clk.Now)
	sub, _ := e.waitingSubscriber(t, "1", clk.Now())
	conv, err := Open(ctx, e.db, Handoff{SubscriberID: sub, Channel: channels.Telegram, Reason: "handoff", At: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f := NewSLAFlagger(svc, clk, time.Minute)
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	breached := func() bool {
		var at *time.Time
		if err := e.db.Get(&at, `SELECT sla_breached_at FROM conversations WHERE id = $1`, conv); err != nil {
			t.Fatal(err)
		}
		return at != nil && at.Equal(clk.Now())
	}
	// Ticks within the SLA flag nothing; the first tick past it flags.
	for i := 0; i < 15; i++ {
		clk.Advance(time.Minute)
	}
	clk.Advance(time.Minute)
	testenv.WaitFor(t, "the conversation flagged after the SLA", 10*time.Second, breached)
}
