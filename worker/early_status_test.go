package worker

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestEarlyFailureRacingTheSendCommit: a provider's failure report that
// arrives while the send's outcome (its provider id) is being committed is
// applied, whatever the moment of that commit. Here the commit lands at the
// worst moment: after the status statement found no message with the id,
// before anything else the status path sends. The report must then be seen
// as early (and retried), not as stale (and dropped, leaving the message
// sent: no message.failed, no fallback).
func TestEarlyFailureRacingTheSendCommit(t *testing.T) {
	t.Parallel()
	h := setupDB(t)
	ctx := context.Background()
	var sub, msg int64
	if err := h.db.Get(&sub, `INSERT INTO subscribers (external_id, name) VALUES ('early', 'Ольга') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	// The ledger's row, committed in flight before the provider call.
	if err := h.db.Get(&msg, `INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, address, status, content, created_at)
		VALUES ('early-1', $1, 'service', 'sms', '+79990000042', 'in_flight', '{}', $2) RETURNING id`, sub, t0); err != nil {
		t.Fatal(err)
	}
	// The send's outcome, written by the ledger's own statement and held
	// uncommitted until the status path has looked for the message.
	settle, err := h.db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer settle.Rollback()
	if err := settleInFlight(ctx, settle, []outcome{{m: msgRow{Key: "early-1"}, status: "sent", pid: "SM-early", at: t0, tries: 1}}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	looked, committed := false, false
	obs := testenv.ObservedDB(t, h.dbURL, func(q string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case committed:
		case strings.Contains(q, "UPDATE messages SET") && strings.Contains(q, "provider_id = $2"):
			looked = true // the status statement is on its way
		case looked:
			// The next statement after it: the send's commit lands now.
			if err := settle.Commit(); err != nil {
				t.Error(err)
			}
			committed = true
		}
	})
	ropt, err := asynq.ParseRedisURI(h.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{DB: obs, Redis: ropt, Clock: h.clock, Handoffs: inbox.Handoffs{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })

	ev := channels.Event{Type: channels.EventFailed, Channel: channels.SMS, ProviderMessageID: "SM-early",
		ErrorKind: channels.NotReachable, ErrorCode: "30003", ErrorMessage: "undelivered", At: h.clock.Now()}
	if err := e.Statuses.ApplyWebhook(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if !committed {
		t.Fatal("the send's outcome was never committed: the status path sent nothing after its status statement")
	}
	var st, code string
	if err := h.db.QueryRow(`SELECT status, coalesce(error_code, '') FROM messages WHERE id = $1`, msg).Scan(&st, &code); err != nil {
		t.Fatal(err)
	}
	if st != "failed" || code != "30003" {
		t.Fatalf("message %s (error %q) after an undelivered report that raced its send's commit, want failed 30003", st, code)
	}
}
