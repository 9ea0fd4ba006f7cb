package cli

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestRetentionPurgesInBatches: on a manual clock, the retention loop's tick
// removes the raw payloads of processed webhook events and the bodies of
// finished messages older than their periods, across several batches, and
// leaves younger rows, unprocessed events and pending messages alone; every
// row the figures count stays.
func TestRetentionPurgesInBatches(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	raw, bodies := 720*time.Hour, 4320*time.Hour
	oldMsg, newMsg := now.Add(-bodies-time.Hour), now.Add(-bodies+time.Hour)
	oldEv, newEv := now.Add(-raw-time.Hour), now.Add(-raw+time.Hour)
	var sub int64
	if err := d.Get(&sub, `INSERT INTO subscribers (external_id, name) VALUES ('keep-1', 'K') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	old := retentionBatch*2 + 17 // more than one batch
	d.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, content, created_at)
		SELECT 'old-' || g, $1, 'service', 'telegram', 'delivered', '{"text":"old body"}', $2 FROM generate_series(1, $3) g`, sub, oldMsg, old)
	d.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, content, created_at) VALUES
		('young', $1, 'service', 'telegram', 'delivered', '{"text":"young body"}', $2),
		('pending', $1, 'service', 'telegram', 'pending', '{"text":"pending body"}', $3)`, sub, newMsg, oldMsg)
	d.MustExec(`INSERT INTO inbound_events (channel, provider_event_id, type, event, received_at, processed_at)
		SELECT 'telegram', 'old-' || g, 'message', '{"Type":"message","Text":"hi","Raw":"e30="}', $1, $1
		  FROM generate_series(1, $2) g`, oldEv, old)
	d.MustExec(`INSERT INTO inbound_events (channel, provider_event_id, type, event, received_at, processed_at) VALUES
		('telegram', 'young', 'message', '{"Type":"message","Raw":"e30="}', $1, $1),
		('telegram', 'unprocessed', 'message', '{"Type":"message","Raw":"e30="}', $2, NULL)`, newEv, oldEv)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := d.GetContext(ctx, &n, q, args...); err != nil {
			t.Fatal(err)
		}
		return n
	}
	figures := func() [2]int {
		return [2]int{count(`SELECT count(*) FROM messages WHERE status = 'delivered'`), count(`SELECT count(*) FROM inbound_events`)}
	}
	before := figures()

	clk := clock.NewManual(now.Add(-retentionEvery))
	r := newRetention(d, slog.New(slog.NewTextHandler(io.Discard, nil)), clk, raw, bodies)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if n := count(`SELECT count(*) FROM messages WHERE content = '{}'`); n != 0 {
		t.Fatalf("%d bodies purged before the loop ticked", n)
	}
	clk.Advance(retentionEvery)
	deadline := time.Now().Add(30 * time.Second)
	for count(`SELECT count(*) FROM messages WHERE content = '{}'`) < old ||
		count(`SELECT count(*) FROM inbound_events WHERE NOT event ? 'Raw'`) < old {
		if time.Now().After(deadline) {
			t.Fatalf("not purged: %d bodies, %d raw payloads of %d",
				count(`SELECT count(*) FROM messages WHERE content = '{}'`), count(`SELECT count(*) FROM inbound_events WHERE NOT event ? 'Raw'`), old)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	if n := count(`SELECT count(*) FROM messages WHERE content <> '{}' AND idempotency_key IN ('young', 'pending')`); n != 2 {
		t.Errorf("the young or the pending message lost its body (%d of 2 kept)", n)
	}
	if n := count(`SELECT count(*) FROM messages WHERE content = '{}'`); n != old {
		t.Errorf("%d bodies purged, want %d", n, old)
	}
	if n := count(`SELECT count(*) FROM inbound_events WHERE event ? 'Raw'`); n != 2 {
		t.Errorf("%d raw payloads kept, want 2 (the young and the unprocessed event)", n)
	}
	if n := count(`SELECT count(*) FROM inbound_events WHERE event->>'Text' = 'hi'`); n != old {
		t.Errorf("the normalised events changed: %d of %d keep their text", n, old)
	}
	if after := figures(); after != before {
		t.Errorf("figures changed: %v, were %v", after, before)
	}
}
