package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/internal/ratelimit"
)

// A chat busy past the account's next slot keeps its message pending and
// its run due around the chat's slot; the claim sends the others and does
// not sleep for it (the account is not idled for one chat). A manager's reply waits for a slot a
// few seconds away, and fails at once when the chat's slot is further.
func TestPacedBusyChatStaysPending(t *testing.T) {
	h := setup(t, withLimiter(map[string]ratelimit.Rate{"sandbox": {PerSecond: 50, PerChatPerSecond: 0.5}}))
	ctx := context.Background()
	v := h.campaign(sendDef("paced"))
	subs := h.subscribers(5, "UTC")
	busy, soon := "sb"+itoa(subs[0]), "sb"+itoa(subs[1])
	// Another worker has just sent to the busy chat: its next slot is 2 s
	// away, past the account's next one.
	lim := h.engine.cfg.Limiter
	if _, err := lim.Reserve(ctx, "sandbox", channels.DefaultAccount, []string{busy}, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	h.start("paced", v, subs, t0)
	start := time.Now()
	h.settle()
	if took := time.Since(start); took > claimPacing.wait {
		t.Errorf("the claim took %v: it waited for the busy chat", took)
	}
	h.wantCount("sends to the free chats", 4, `SELECT count(*) FROM sandbox_sends WHERE address <> $1`, busy)
	if n := h.count(`SELECT count(*) FROM sandbox_sends WHERE address = $1`, busy); n != 0 {
		t.Fatalf("the busy chat got %d sends before its slot", n)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE address = $1 AND status = 'pending'`, busy); n != 1 {
		t.Fatalf("the busy chat's message is not pending (%d)", n)
	}
	// Its run is due again around the slot (after is wall time, added to
	// the engine clock).
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE subscriber_id = $1 AND state = 'active' AND next_at BETWEEN $2 AND $3`,
		subs[0], t0.Add(time.Second), t0.Add(2100*time.Millisecond)); n != 1 {
		t.Fatalf("the busy chat's run is not deferred to its slot")
	}

	// The reply to the chat just sent to waits for its next slot (2 s).
	start = time.Now()
	if _, _, err := h.engine.SendText(ctx, subs[1], channels.Message{IdempotencyKey: "reply-1",
		Channel: "sandbox", To: soon, Text: "Здравствуйте!"}); err != nil {
		t.Fatalf("reply a slot away: %v", err)
	}
	if took := time.Since(start); took < time.Second || took > replyPacing.wait {
		t.Errorf("the reply took %v, want its slot about 2 s away", took)
	}
	// The busy chat's next slot is beyond the reply's wait (others took
	// slots 2 and 4 s out): the reply fails at once.
	if _, err := lim.Reserve(ctx, "sandbox", channels.DefaultAccount, []string{busy, busy, busy}, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, _, err := h.engine.SendText(ctx, subs[0], channels.Message{IdempotencyKey: "reply-2",
		Channel: "sandbox", To: busy, Text: "Здравствуйте!"})
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != channels.RateLimited {
		t.Fatalf("reply to the busy chat: %v, want rate limited", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the refused reply took %v", took)
	}
}

// A claim of a paced channel works the runs its account sends in about a
// second, at least paceLimit and at most a batch.
func TestPaceRunsFollowsTheRate(t *testing.T) {
	def := sendDef("paced")
	for _, tc := range []struct {
		rate ratelimit.Rate
		want int
	}{
		{ratelimit.Rate{PerSecond: 1000, PerChatPerSecond: 1}, 500},
		{ratelimit.Rate{PerSecond: 200, PerChatPerSecond: 1}, 200},
		{ratelimit.Rate{PerSecond: 30, PerChatPerSecond: 1}, paceLimit},
		{ratelimit.Rate{PerChatPerSecond: 1}, paceLimit}, // per chat only: one by one
		{ratelimit.Rate{}, 500},                          // unlimited: one batch call
	} {
		e := &Engine{cfg: Config{BatchSize: 500, Limiter: ratelimit.New(nil, map[string]ratelimit.Rate{"sandbox": tc.rate})},
			senders: map[channels.Kind]channels.Sender{"sandbox": sandbox.New(sandbox.Config{})}}
		if got := e.paceRuns(&def); got != tc.want {
			t.Errorf("rate %+v: %d runs per claim, want %d", tc.rate, got, tc.want)
		}
	}
}

// An opt-out racing a paced blast waits for the one send group in progress
// (what the account sends in inFlightSpan), not for the claim: at 30/s a
// claim of paceLimit runs sends for more than 3 s. No message goes out
// after the opt-out commits, and every run ends sent or skipped.
func TestOptOutWaitsForOneSendGroupNotTheClaim(t *testing.T) {
	h := setup(t, withLimiter(map[string]ratelimit.Rate{"sandbox": {PerSecond: 30}}))
	subs := h.blast("paced", 150, t0)
	// Opt out every fifth subscriber from the end once the first claim is
	// sending.
	longest := h.optOutWhileSending(subs, 5, 500*time.Millisecond, 50*time.Millisecond)
	if n := h.sendsAfterOptOut(); n != 0 {
		t.Fatalf("%d sends after the opt-out committed", n)
	}
	sent := h.count(`SELECT count(*) FROM sandbox_sends`)
	skipped := h.count(`SELECT count(*) FROM messages WHERE status = 'skipped'`)
	if sent+skipped != len(subs) || skipped == 0 {
		t.Fatalf("sent %d + skipped %d, want %d with some skipped", sent, skipped, len(subs))
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE state = 'active'`); n != 0 {
		t.Fatalf("%d runs still active", n)
	}
	t.Logf("sent %d, skipped %d, longest opt-out wait %v", sent, skipped, longest)
	if longest > time.Second {
		t.Errorf("an opt-out waited %v for the sends, want at most 1 s", longest)
	}
}

// TestClaimAsksForWhatItCanWork: a claim of a paced campaign works
// paceLimit of the runs it locked; the next claim asks for that many, so no
// run is locked by a claim that leaves it (before, a claim locked
// BatchSize runs and worked paceLimit: each run was locked about five
// times). Once a claim has nothing paced, claims take BatchSize again.
func TestClaimAsksForWhatItCanWork(t *testing.T) {
	h := setup(t, withLimiter(map[string]ratelimit.Rate{"sandbox": {PerSecond: 30, PerChatPerSecond: 1}}),
		func(_ *harness, c *Config, _ *sandbox.Config) { c.BatchSize = 500 })
	ctx := context.Background()
	if got := h.engine.claimLimit(); got != h.engine.cfg.BatchSize {
		t.Fatalf("first claim asks for %d, want BatchSize %d", got, h.engine.cfg.BatchSize)
	}
	h.blast("paced", paceLimit+20, t0)
	n, err := h.engine.workDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != min(h.engine.cfg.BatchSize, paceLimit+20) || h.engine.claimLimit() != paceLimit {
		t.Fatalf("claimed %d, next claim asks for %d, want %d", n, h.engine.claimLimit(), paceLimit)
	}
	if got := h.count(`SELECT count(*) FROM messages`); got != paceLimit {
		t.Fatalf("%d messages after one claim, want %d", got, paceLimit)
	}
	if n, err = h.engine.workDue(ctx); err != nil || n != 20 {
		t.Fatalf("second claim took %d (%v), want the 20 left", n, err)
	}
	// A claim with no paced send (the runs end) asks for BatchSize again.
	h.engine.claimHint.Store(paceLimit)
	h.blast("ending", 3, t0)
	h.exec(`UPDATE flow_runs SET step_id = 'end' WHERE campaign_id = 'ending'`)
	if n, err := h.engine.workDue(ctx); err != nil || n != 3 {
		t.Fatalf("claim of the ending runs: %d (%v)", n, err)
	}
	if got := h.engine.claimLimit(); got != h.engine.cfg.BatchSize {
		t.Fatalf("after an unpaced claim: %d, want %d", got, h.engine.cfg.BatchSize)
	}
}
