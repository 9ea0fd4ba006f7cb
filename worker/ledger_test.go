package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/testenv"
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
	_, subs := h.blastDef(emailDef("inflight", onUnknown), 30, "UTC", t0.Add(-time.Minute))
	hang := subs[15]
	h.email.Script(fmt.Sprintf("u%d@example.com", hang), sandbox.Behavior{Delay: time.Minute})
	cancel, done := h.claimAside()
	testenv.WaitFor(h.t, "the second group in flight", 20*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM messages WHERE status = 'in_flight'`) == inFlightGroup &&
			h.count(`SELECT count(*) FROM sandbox_sends`) == 2*inFlightGroup-1
	})
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); got != inFlightGroup {
		t.Fatalf("%d messages committed sent before the second group, want %d", got, inFlightGroup)
	}
	cancel()
	<-done
	// The rollback runs beside the claim's return (database/sql's watch of ctx).
	testenv.WaitFor(h.t, "the runs released", 5*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM (SELECT id FROM flow_runs FOR NO KEY UPDATE SKIP LOCKED) f`) == 30
	})
	h.email.Script(fmt.Sprintf("u%d@example.com", hang), sandbox.Behavior{})
	if n, err := h.engine.workDue(context.Background()); err != nil || n != 30 {
		t.Fatalf("claim after the crash: %d runs, %v", n, err)
	}
	h.wantCount("done runs", 30, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
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
	h.wantCount("sent messages", 30-inFlightGroup, `SELECT count(*) FROM messages WHERE status = 'sent'`)
	// Every provider call happened once: the nine of the crashed group that
	// went out before it were not sent again, the hanging one never.
	if got := h.count(`SELECT count(*) FROM sandbox_sends`); got != 30-1 {
		t.Fatalf("provider calls = %d, want 29", got)
	}
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, fmt.Sprintf("u%d@example.com", hang)); got != 0 {
		t.Fatalf("the hanging send was made again after the crash")
	}
	h.wantCount("sent rows with the provider's id", 30-inFlightGroup, `SELECT count(*) FROM messages m JOIN sandbox_sends s ON s.idempotency_key = m.idempotency_key
WHERE m.status = 'sent' AND m.provider_id = s.provider_id`)
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
	h.wantCount("sent messages", 30, `SELECT count(*) FROM messages WHERE status = 'sent'`)
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, fmt.Sprintf("u%d@example.com", hang)); got != 1 {
		t.Fatalf("the message in flight at the crash was not sent again")
	}
}

// A claim that cannot call the provider (the rate limiter's Redis is gone)
// leaves nothing in flight: the message is sent later, not called unknown.
func TestInFlightRowOfAMessageNeverSentIsForgotten(t *testing.T) {
	var rdb *redis.Client
	h := setup(t, func(h *harness, c *Config, _ *sandbox.Config) {
		rdb = testenv.RedisClientAt(t, h.redisURL)
		c.Limiter = ratelimit.New(rdb, map[string]ratelimit.Rate{"email": {PerSecond: 1000}})
	})
	h.blastDef(emailDef("nolimiter", ""), 3, "UTC", t0.Add(-time.Minute))
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

// A message recorded pending after a transient failure is retried through
// the ledger like a fresh send: its row is committed in flight on the pool
// before the provider call (while the claim that retries it is still open),
// and a worker that dies during that call leaves it unknown, not sent again.
func TestRetriedMessageGoesInFlightAndIsUnknownAfterACrash(t *testing.T) {
	h := setup(t)
	v := h.campaign(emailDef("retryflight", ""))
	subs := h.subscribers(1, "UTC")
	addr := fmt.Sprintf("u%d@example.com", subs[0])
	h.email.Script(addr, sandbox.Behavior{Fail: channels.Transient})
	h.start("retryflight", v, subs, t0.Add(-time.Minute))
	_, _ = h.engine.workDue(context.Background()) // the transient failure asks for a retry
	h.wantCount("pending messages after a transient failure", 1, `SELECT count(*) FROM messages WHERE status = 'pending' AND tries = 1`)
	h.email.Script(addr, sandbox.Behavior{Delay: time.Minute})
	h.clock.Advance(retryBackoff(1) + time.Second)
	cancel, done := h.claimAside()
	testenv.WaitFor(h.t, "the retried message in flight", 20*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM messages WHERE status = 'in_flight' AND address = $1`, addr) == 1
	})
	// The claim is still open (its provider call hangs) and holds the run.
	if got := h.count(`SELECT count(*) FROM (SELECT id FROM flow_runs FOR NO KEY UPDATE SKIP LOCKED) f`); got != 0 {
		t.Fatalf("%d runs unlocked while their claim's retry is in flight", got)
	}
	cancel()
	<-done
	testenv.WaitFor(h.t, "the run released", 5*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM (SELECT id FROM flow_runs FOR NO KEY UPDATE SKIP LOCKED) f`) == 1
	})
	h.email.Script(addr, sandbox.Behavior{})
	if n, err := h.engine.workDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("claim after the crash: %d runs, %v", n, err)
	}
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'unknown' AND reason = $1`, unknownReason); got != 1 {
		t.Fatal("the retry in flight at the crash is not unknown")
	}
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, addr); got != 0 {
		t.Fatalf("the retry in flight at the crash was sent again (%d calls)", got)
	}
	h.wantCount("done runs", 1, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
}

// A retried message whose send goes through is settled sent with the
// provider's id, and a rate-limited one is pending again.
func TestRetriedMessageThroughTheLedgerIsSettled(t *testing.T) {
	h := setup(t)
	v := h.campaign(emailDef("retrysettle", ""))
	subs := h.subscribers(2, "UTC")
	ok, limited := fmt.Sprintf("u%d@example.com", subs[0]), fmt.Sprintf("u%d@example.com", subs[1])
	h.email.Script(ok, sandbox.Behavior{Fail: channels.Transient})
	h.email.Script(limited, sandbox.Behavior{Fail: channels.Transient})
	h.start("retrysettle", v, subs, t0.Add(-time.Minute))
	_, _ = h.engine.workDue(context.Background())
	h.email.Script(ok, sandbox.Behavior{})
	h.email.Script(limited, sandbox.Behavior{RateLimitOnce: true, RetryAfter: time.Hour})
	h.clock.Advance(retryBackoff(1) + time.Second)
	_, _ = h.engine.workDue(context.Background())
	if got := h.count(`SELECT count(*) FROM messages m JOIN sandbox_sends s ON s.idempotency_key = m.idempotency_key
WHERE m.status = 'sent' AND m.provider_id = s.provider_id AND m.address = $1`, ok); got != 1 {
		t.Fatal("the retried message is not settled sent with the provider's id")
	}
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'pending' AND address = $1`, limited); got != 1 {
		t.Fatal("the rate-limited retry is not pending again")
	}
	if got := h.count(`SELECT count(*) FROM messages WHERE status = 'in_flight'`); got != 0 {
		t.Fatalf("%d rows left in flight by a claim that finished", got)
	}
}

// A fallback rung to a provider that does not deduplicate goes through the
// ledger too: committed in flight before its provider call, sent after.
func TestFallbackRungGoesInFlightBeforeItsSend(t *testing.T) {
	h := setup(t)
	def := sendDef("fbflight")
	def.Settings.Fallback = emailRung()
	v := h.campaign(def)
	subs := h.subscribers(1, "UTC")
	addr := fmt.Sprintf("u%d@example.com", subs[0])
	h.sandbox.Script("sb"+itoa(subs[0]), sandbox.Behavior{Fail: channels.Blocked}) // falls back at once
	h.email.Script(addr, sandbox.Behavior{Delay: 3 * time.Second})
	h.start("fbflight", v, subs, t0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.settle()
	}()
	testenv.WaitFor(h.t, "the rung in flight", 20*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM messages WHERE attempt = 1 AND status = 'in_flight' AND address = $1`, addr) == 1
	})
	if got := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, addr); got != 0 {
		t.Fatal("the rung's send was recorded before its row went in flight")
	}
	<-done
	if got := h.count(`SELECT count(*) FROM messages m JOIN sandbox_sends s ON s.idempotency_key = m.idempotency_key
WHERE m.attempt = 1 AND m.status = 'sent' AND m.provider_id = s.provider_id`); got != 1 {
		t.Fatal("the rung is not settled sent with the provider's id")
	}
}

// TestGroupEndWithoutRate: with no account rate, a provider called message
// by message goes in groups of dedupGroup when it deduplicates (only the
// consent hold is at stake) and of inFlightGroup when a crash could send
// the group twice; an account rate sets the group to what it sends in
// inFlightSpan.
func TestGroupEndWithoutRate(t *testing.T) {
	e := &Engine{cfg: Config{Limiter: ratelimit.New(nil, map[string]ratelimit.Rate{"telegram": {PerSecond: 30}})},
		senders: map[channels.Kind]channels.Sender{}}
	jobsOn := func(ch string, n int) []job {
		out := make([]job, n)
		for i := range out {
			out[i].m.Channel = ch
		}
		return out
	}
	for _, tc := range []struct {
		ch   string
		want int
	}{
		{"vk", dedupGroup},       // no rate, deduplicates
		{"viber", inFlightGroup}, // no rate, does not
		{"telegram", 3},          // 30/s: what it sends in 100 ms
	} {
		if got := e.groupEnd(jobsOn(tc.ch, 500), 0); got != tc.want {
			t.Errorf("%s: group of %d, want %d", tc.ch, got, tc.want)
		}
	}
}
