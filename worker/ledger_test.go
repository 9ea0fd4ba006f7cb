package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/internal/ratelimit"
)

// emailDef sends "hello" by email: the harness's email sender stands for a
// provider that does not deduplicate (channels.DeduplicatesByKey), so its
// messages go through the in-flight ledger.
func emailDef(id, onUnknown string) campaigns.Definition {
	d := sendDef(id)
	d.Settings.Channels = []string{"email"}
	d.Settings.OnUnknown = onUnknown
	return d
}

// crashMidGroup runs a claim of 30 email runs whose 16th recipient's send
// hangs, cancels it once the second group of inFlightGroup is in flight (the
// worker "dies": its group stays committed in flight, its transaction rolls
// back), and claims again. It returns the harness and the hanging recipient.
func crashMidGroup(t *testing.T, onUnknown string) (*harness, int64) {
	h := setup(t)
	v := h.campaign(emailDef("inflight", onUnknown))
	subs := h.subscribers(30, "UTC")
	h.start("inflight", v, subs, t0.Add(-time.Minute))
	hang := subs[15]
	h.email.Script(fmt.Sprintf("u%d@example.com", hang), sandbox.Behavior{Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.engine.workDue(ctx)
		done <- err
	}()
	h.waitFor("the second group in flight", 20*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM messages WHERE status = 'in_flight'`) == inFlightGroup &&
			h.count(`SELECT count(*) FROM sandbox_sends`) == 2*inFlightGroup-1
	})
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); got != inFlightGroup {
		t.Fatalf("%d messages committed sent before the second group, want %d", got, inFlightGroup)
	}
	cancel()
	<-done
	// The rollback runs beside the claim's return (database/sql's watch of ctx).
	h.waitFor("the runs released", 5*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM (SELECT id FROM flow_runs FOR NO KEY UPDATE SKIP LOCKED) f`) == 30
	})
	h.email.Script(fmt.Sprintf("u%d@example.com", hang), sandbox.Behavior{})
	if n, err := h.engine.workDue(context.Background()); err != nil || n != 30 {
		t.Fatalf("claim after the crash: %d runs, %v", n, err)
	}
	if got := h.count(`SELECT count(*) FROM flow_runs WHERE state = 'done'`); got != 30 {
		t.Fatalf("done runs = %d, want 30", got)
	}
	return h, hang
}

// A worker that dies with a group in flight to a provider that does not
// deduplicate: its group is recorded unknown and not sent again (the
// customers may have it), the groups before it stay sent, the rest are sent
// once; the funnel counts the unknown runs.
func TestInFlightGroupOfACrashIsUnknown(t *testing.T) {
	h, hang := crashMidGroup(t, "")
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'unknown' AND reason = $1`, unknownReason); got != inFlightGroup {
		t.Fatalf("unknown messages = %d, want the group in flight (%d)", got, inFlightGroup)
	}
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'unknown' AND subscriber_id = $1`, hang); got != 1 {
		t.Fatal("the message in flight at the crash is not unknown")
	}
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); got != 30-inFlightGroup {
		t.Fatalf("sent messages = %d, want %d", got, 30-inFlightGroup)
	}
	// Every provider call happened once: the nine of the crashed group that
	// went out before it were not sent again, the hanging one never.
	if got := h.count(`SELECT count(*) FROM sandbox_sends`); got != 30-1 {
		t.Fatalf("provider calls = %d, want 29", got)
	}
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, fmt.Sprintf("u%d@example.com", hang)); got != 0 {
		t.Fatalf("the hanging send was made again after the crash")
	}
	if got := h.count(`SELECT count(*) FROM messages m JOIN sandbox_sends s ON s.idempotency_key = m.idempotency_key
WHERE m.status = 'sent' AND m.provider_id = s.provider_id`); got != 30-inFlightGroup {
		t.Fatalf("sent rows with the provider's id = %d, want %d", got, 30-inFlightGroup)
	}
	f, err := analytics.New(h.db).Funnel(context.Background(), "inflight", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Unknown != inFlightGroup || f.Sent != 30-inFlightGroup {
		t.Fatalf("funnel: %d unknown, %d sent; want %d, %d", f.Unknown, f.Sent, inFlightGroup, 30-inFlightGroup)
	}
}

// on_unknown: resend sends a crashed group again: every message ends sent.
func TestInFlightGroupResentWhenTheCampaignSaysSo(t *testing.T) {
	h, hang := crashMidGroup(t, campaigns.OnUnknownResend)
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); got != 30 {
		t.Fatalf("sent messages = %d, want 30", got)
	}
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, fmt.Sprintf("u%d@example.com", hang)); got != 1 {
		t.Fatalf("the message in flight at the crash was not sent again")
	}
}

// A claim that cannot call the provider (the rate limiter's Redis is gone)
// leaves nothing in flight: the message is sent later, not called unknown.
func TestInFlightRowOfAMessageNeverSentIsForgotten(t *testing.T) {
	var rdb *redis.Client
	h := setup(t, func(h *harness, c *Config, _ *sandbox.Config) {
		opt, err := redis.ParseURL(h.redisURL)
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opt)
		c.Limiter = ratelimit.New(rdb, map[string]ratelimit.Rate{"email": {PerSecond: 1000}})
	})
	v := h.campaign(emailDef("nolimiter", ""))
	subs := h.subscribers(3, "UTC")
	h.start("nolimiter", v, subs, t0.Add(-time.Minute))
	rdb.Close()
	if _, err := h.engine.workDue(context.Background()); err != nil {
		t.Fatalf("claim: %v", err)
	}
	if got := h.count(`SELECT count(*) FROM messages`); got != 0 {
		t.Fatalf("%d message rows left by a claim that called no provider", got)
	}
	if got := h.count(`SELECT count(*) FROM sandbox_sends`); got != 0 {
		t.Fatalf("%d provider calls without the rate limiter", got)
	}
	if got := h.count(`SELECT count(*) FROM flow_runs WHERE next_at > $1`, t0); got != 3 {
		t.Fatalf("%d runs deferred, want 3", got)
	}
}
