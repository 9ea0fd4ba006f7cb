package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/internal/ratelimit"
)

func TestBlastSendsExactlyOnePerSubscriber(t *testing.T) {
	h := setup(t)
	_, subs := h.blastDef(sendDef("blast"), 730, "Europe/Moscow", t0)
	h.settle()
	h.wantCount("sandbox sends", len(subs), `SELECT count(*) FROM sandbox_sends`)
	h.wantCount("distinct recipients", len(subs), `SELECT count(DISTINCT address) FROM sandbox_sends`)
	h.wantCount("sent messages", len(subs), `SELECT count(*) FROM messages WHERE status = 'sent' AND provider_id IS NOT NULL`)
	h.wantCount("done runs", len(subs), `SELECT count(*) FROM flow_runs WHERE state = 'done' AND ended_at IS NOT NULL`)
	var text string
	if err := h.db.Get(&text, `SELECT text FROM sandbox_sends WHERE address = 'sb' || $1`, subs[0]); err != nil {
		t.Fatal(err)
	}
	if text != "Привет, Анна 1!" {
		t.Fatalf("rendered text = %q", text)
	}
	// A second dispatch of everything (as after a crash) changes nothing.
	h.exec(`UPDATE flow_runs SET state = 'active', step_id = 'hello', step_seq = step_seq - 1, next_at = $1`, t0)
	h.settle()
	h.wantCount("after replay sandbox sends", len(subs), `SELECT count(*) FROM sandbox_sends`)
}

func TestPolicySkipsAndDefers(t *testing.T) {
	h := setup(t)
	def := sendDef("quiet")
	def.Settings.QuietHours = &campaigns.QuietHours{Start: "22:00", End: "09:00"}
	def.Settings.FrequencyCap = &campaigns.FrequencyCap{Max: 1, Per: dur("1d")}
	v := h.campaign(def)
	berlin := h.subscribers(1, "Europe/Berlin")       // 23:30 there: quiet
	moscow := h.subscribers(3, "Europe/Moscow")       // 01:30 there: quiet too
	tokyo := h.subscribers(1, "Asia/Tokyo")           // 07:30 next day: quiet
	ny := h.subscribers(1, "America/New_York")        // 17:30: sends
	noConsent := h.subscribers(1, "America/New_York") // revoked
	h.exec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, 'sandbox', 'marketing', false, 'api')`, noConsent[0])
	capped := h.subscribers(1, "America/New_York")
	h.exec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, sent_at) VALUES ('prev', $1, 'marketing', 'sandbox', 'sent', $2)`, capped[0], time.Date(2026, 3, 2, 21, 30, 0, 0, time.UTC))
	all := append(append(append(append(append(append([]int64{}, berlin...), moscow...), tokyo...), ny...), noConsent...), capped...)
	now := time.Date(2026, 3, 2, 22, 30, 0, 0, time.UTC)
	h.clock.Set(now)
	h.start("quiet", v, all, now)
	h.settle()
	if n := h.count(`SELECT count(*) FROM sandbox_sends`); n != 1 {
		t.Fatalf("sends during quiet hours = %d, want 1 (New York)", n)
	}
	var reasons []string
	if err := h.db.Select(&reasons, `SELECT reason FROM messages WHERE status = 'skipped' ORDER BY reason`); err != nil {
		t.Fatal(err)
	}
	if len(reasons) != 2 || reasons[0] != "frequency_cap" || reasons[1] != "no_consent" {
		t.Fatalf("skip reasons = %v, want [frequency_cap no_consent]", reasons)
	}
	var next time.Time
	if err := h.db.Get(&next, `SELECT next_at FROM flow_runs WHERE subscriber_id = $1`, berlin[0]); err != nil {
		t.Fatal(err)
	}
	berlinLoc, _ := time.LoadLocation("Europe/Berlin")
	if want := time.Date(2026, 3, 3, 9, 0, 0, 0, berlinLoc); !next.Equal(want) {
		t.Fatalf("Berlin run deferred to %v, want %v", next, want)
	}
	// Morning in Berlin: Berlin and Moscow go out, Tokyo is still quiet-free? (17:00 there: yes).
	h.clock.Set(time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC))
	h.settle()
	h.wantCount("sends after quiet hours", 6, `SELECT count(*) FROM sandbox_sends`)
	h.wantCount("done runs", len(all), `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
}

func TestRateLimitedSendIsRetriedOnceWithoutDuplicate(t *testing.T) {
	h := setup(t)
	v := h.campaign(sendDef("rl"))
	subs := h.subscribers(3, "UTC")
	h.sandbox.Script("sb"+itoa(subs[1]), sandbox.Behavior{RateLimitOnce: true, RetryAfter: 30 * time.Second})
	h.start("rl", v, subs, t0)
	h.settle()
	if n := h.count(`SELECT count(*) FROM sandbox_sends`); n != 2 {
		t.Fatalf("sends = %d, want 2 (one rate-limited)", n)
	}
	h.wantCount("pending messages", 1, `SELECT count(*) FROM messages WHERE status = 'pending'`)
	h.clock.Advance(31 * time.Second)
	h.settle()
	h.wantCount("sends after retry-after", 3, `SELECT count(*) FROM sandbox_sends`)
	h.wantCount("message rows", 3, `SELECT count(*) FROM messages`)
	h.wantCount("done runs", 3, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
}

func TestFallbackLadderExactlyOnce(t *testing.T) {
	h := setup(t)
	def := sendDef("fb")
	def.Settings.Fallback = emailRung()
	v := h.campaign(def)
	subs := h.subscribers(4, "UTC")
	silent, delivered, blocked, readLate := subs[0], subs[1], subs[2], subs[3]
	h.sandbox.Script("sb"+itoa(delivered), sandbox.Behavior{Report: channels.EventDelivered, ReportAfter: 10 * time.Minute})
	h.sandbox.Script("sb"+itoa(blocked), sandbox.Behavior{Fail: channels.Blocked})
	h.sandbox.Script("sb"+itoa(readLate), sandbox.Behavior{Report: channels.EventRead, ReportAfter: 2 * time.Hour})
	// statuses flow back through Statuses.Apply
	h.start("fb", v, subs, t0)
	h.settle()
	// The block falls back at once and revokes consent for the channel.
	if n := h.count(`SELECT count(*) FROM sandbox_sends WHERE channel = 'email'`); n != 1 {
		var rows []string
		_ = h.db.Select(&rows, `SELECT concat_ws(' ', idempotency_key, channel, status, reason, error_kind, error_message, fallback_at) FROM messages ORDER BY id`)
		t.Fatalf("email sends right after the block = %d, want 1; messages:\n%s", n, strings.Join(rows, "\n"))
	}
	if n := h.count(`SELECT count(*) FROM consent_events WHERE subscriber_id = $1 AND channel = 'sandbox' AND NOT granted AND source = 'dialog'`, blocked); n != 2 {
		t.Fatalf("revocations for the blocked subscriber = %d, want 2 topics", n)
	}
	h.clock.Advance(15 * time.Minute)
	deliverReports(t, h)
	h.clock.Advance(50 * time.Minute) // 65 min after the send: the check is due
	h.settle()
	var emailTo []string
	if err := h.db.Select(&emailTo, `SELECT address FROM sandbox_sends WHERE channel = 'email' ORDER BY address`); err != nil {
		t.Fatal(err)
	}
	want := []string{"u" + itoa(blocked) + "@example.com", "u" + itoa(readLate) + "@example.com", "u" + itoa(silent) + "@example.com"}
	sortStrings(want)
	if len(emailTo) != 3 || emailTo[0] != want[0] || emailTo[1] != want[1] || emailTo[2] != want[2] {
		t.Fatalf("email fallbacks to %v, want %v", emailTo, want)
	}
	// Later reads, more checks, replays: still exactly one fallback each.
	h.clock.Advance(2 * time.Hour)
	deliverReports(t, h)
	h.exec(`UPDATE messages SET fallback_at = $1 WHERE attempt = 0 AND status <> 'skipped'`, h.clock.Now())
	h.settle()
	h.wantCount("email sends after replay", 3, `SELECT count(*) FROM sandbox_sends WHERE channel = 'email'`)
	h.wantCount("attempt-1 rows", 3, `SELECT count(*) FROM messages WHERE attempt = 1`)
	var st string
	if err := h.db.Get(&st, `SELECT status FROM messages WHERE subscriber_id = $1 AND attempt = 0`, delivered); err != nil || st != "delivered" {
		t.Fatalf("delivered subscriber's message status = %q (%v)", st, err)
	}
}

func deliverReports(t *testing.T, h *harness) {
	t.Helper()
	for _, s := range []*sandbox.Sandbox{h.sandbox, h.email} {
		if _, err := s.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatusesMoveForwardOnly(t *testing.T) {
	h := setup(t)
	v, _ := h.blastDef(sendDef("st"), 1, "UTC", t0)
	h.settle()
	var pid string
	if err := h.db.Get(&pid, `SELECT provider_id FROM messages`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []channels.EventType{channels.EventRead, channels.EventDelivered, channels.EventRead} {
		if err := h.engine.Statuses.Apply(ctx, channels.Event{Type: ev, Channel: channels.Sandbox, ProviderMessageID: pid, At: h.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var st string
	_ = h.db.Get(&st, `SELECT status FROM messages`)
	if st != "read" {
		t.Fatalf("status = %q, want read (delivered after read must not go back)", st)
	}
	// A status before its message is recorded is not lost: Apply reports it
	// (the inbound sink keeps the event for its reconciler) and a later retry
	// applies it.
	early := channels.Event{Type: channels.EventDelivered, Channel: channels.Sandbox, ProviderMessageID: "not-yet", At: h.clock.Now()}
	if err := h.engine.Statuses.ApplyWebhook(ctx, early); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("early status: %v, want ErrUnknownMessage", err)
	}
	if err := h.engine.Statuses.Apply(ctx, early); err != nil { // the sandbox's lenient path
		t.Fatalf("lenient apply: %v", err)
	}
	if _, err := h.db.Exec(`UPDATE messages SET provider_id = 'not-yet', status = 'sent', delivered_at = NULL, read_at = NULL`); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.Statuses.ApplyWebhook(ctx, early); err != nil {
		t.Fatal(err)
	}
	_ = h.db.Get(&st, `SELECT status FROM messages`)
	if st != "delivered" {
		t.Fatalf("status after the late retry = %q, want delivered", st)
	}
	early.Type = channels.EventRead
	if err := h.engine.Statuses.Apply(ctx, early); err != nil {
		t.Fatal(err)
	}
	// Watermark statuses (Messenger, VK) by address and time.
	h2 := h.subscribers(1, "UTC")
	h.start("st", v, h2, t0)
	h.settle()
	if err := h.engine.Statuses.Apply(ctx, channels.Event{Type: channels.EventRead, Channel: channels.Sandbox, From: "sb" + itoa(h2[0]), Watermark: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.wantCount("read after watermark", 2, `SELECT count(*) FROM messages WHERE status = 'read'`)
}

func TestOptOutsDuringBlastStopSends(t *testing.T) {
	h := setup(t, withSandbox(sandbox.Behavior{Delay: 2 * time.Millisecond}))
	subs := h.blast("optout", 1200, t0)
	// Opt out every third subscriber while the blast runs.
	h.optOutWhileSending(subs, 3, 0, 0)
	if n := h.sendsAfterOptOut(); n != 0 {
		t.Fatalf("%d sends after the opt-out committed", n)
	}
	optedOut := h.count(`SELECT count(*) FROM consent_events WHERE NOT granted`)
	skipped := h.count(`SELECT count(*) FROM messages WHERE status = 'skipped'`)
	sent := h.count(`SELECT count(*) FROM sandbox_sends`)
	if sent+skipped != len(subs) || optedOut != 400 {
		t.Fatalf("sent %d + skipped %d != %d (opt-outs %d)", sent, skipped, len(subs), optedOut)
	}
	t.Logf("sent %d, skipped after opt-out %d", sent, skipped)
}

func TestRateLimiterPacesSends(t *testing.T) {
	h := setup(t, withLimiter(map[string]ratelimit.Rate{"sandbox": {PerSecond: 20}}))
	h.blast("paced", 30, t0)
	h.settle()
	var span time.Duration
	var first, last time.Time
	_ = h.db.QueryRow(`SELECT min(created_at), max(created_at) FROM sandbox_sends`).Scan(&first, &last)
	span = last.Sub(first)
	h.wantCount("sends", 30, `SELECT count(*) FROM sandbox_sends`)
	// 30 sends at 20/s cannot be faster than 29 intervals of 50ms.
	if span < 1400*time.Millisecond {
		t.Fatalf("30 sends at 20/s took %v, faster than the limit", span)
	}
}

func TestPayloadOf(t *testing.T) {
	got := payloadOf([]byte(`{"trigger":"event","payload":{"order_id":"A-17","trigger":"x"},"reply":{"button":"yes"}}`))
	if got["order_id"] != "A-17" || got["trigger"] != "x" || got["reply"] == nil || got["payload"] != nil {
		t.Fatalf("payloadOf = %v", got)
	}
	if len(payloadOf(nil)) != 0 {
		t.Fatal("nil context")
	}
}

// A transient provider failure leaves the message pending with its try
// counted and the run deferred by a backoff on the engine clock; the next try
// sends it exactly once. A message that keeps failing fails for good after
// maxRetry tries and the run moves on.
func TestTransientFailureRetriedOnce(t *testing.T) {
	h := setup(t)
	v := h.campaign(sendDef("flaky"))
	subs := h.subscribers(3, "UTC")
	flaky, broken := "sb"+itoa(subs[0]), "sb"+itoa(subs[1])
	h.sandbox.Script(flaky, sandbox.Behavior{Fail: channels.Transient})
	h.sandbox.Script(broken, sandbox.Behavior{Fail: channels.Transient})
	h.start("flaky", v, subs, t0)
	h.settle()
	h.wantCount("pending after one failed try", 2, `SELECT count(*) FROM messages WHERE status = 'pending' AND tries = 1 AND error_kind = 'transient'`)
	h.wantCount("runs deferred by the backoff", 2, `SELECT count(*) FROM flow_runs WHERE state = 'active' AND next_at = $1`, t0.Add(retryBackoff(1)))
	h.sandbox.Script(flaky, sandbox.Behavior{})
	for i := 0; i < maxRetry; i++ {
		h.clock.Advance(retryBackoff(maxRetry) + time.Second)
		h.settle()
	}
	h.wantCount("sends to the flaky address", 1, `SELECT count(*) FROM sandbox_sends WHERE address = $1`, flaky)
	if n := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); n != 2 {
		var dump []string
		_ = h.db.Select(&dump, `SELECT idempotency_key || ' ' || status || ' ' || tries || ' ' || coalesce(error_message, '') FROM messages`)
		t.Fatalf("sent = %d, want 2: %v", n, dump)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE status = 'failed' AND tries = $1 - 1 AND address = $2`, maxRetry, broken); n != 1 {
		t.Fatalf("messages failed for good after %d tries = %d, want 1", maxRetry, n)
	}
	h.wantCount("runs done", 3, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
}

// A run whose message is already recorded pending (by a deferred try, or by
// the two-commit send path of earlier versions) is not decided afresh: the
// claim sees the row and sends it, once, as recorded. This also holds the
// key format the claim function builds in SQL to worker.MessageKey.
func TestRecordedMessageWithoutFlagIsSentOnce(t *testing.T) {
	h := setup(t)
	v, subs := h.blastDef(sendDef("legacy"), 2, "UTC", t0)
	var run int64
	if err := h.db.Get(&run, `SELECT id FROM flow_runs WHERE subscriber_id = $1`, subs[0]); err != nil {
		t.Fatal(err)
	}
	h.exec(`UPDATE flow_runs SET step_id = 'hello' WHERE campaign_id = 'legacy'`)
	h.exec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id, topic,
	        channel, address, status, content)
	        VALUES ($1, $2, 'legacy', $3, $4, 'hello', 'marketing', 'sandbox', $5, 'pending', '{"text": "recorded"}')`,
		MessageKey(run, "hello", 0, 0), subs[0], v, run, "sb"+itoa(subs[0]))
	h.settle()
	h.wantCount("sends", 2, `SELECT count(*) FROM sandbox_sends`)
	var dump []string
	_ = h.db.Select(&dump, `SELECT idempotency_key || ' ' || status || ' ' || content::text FROM messages UNION ALL SELECT idempotency_key || ' sbx ' || text FROM sandbox_sends`)
	t.Log(dump)
	if n := h.count(`SELECT count(*) FROM sandbox_sends WHERE text = 'recorded'`); n != 1 {
		t.Fatalf("the recorded message was sent %d times, want 1", n)
	}
	h.wantCount("sent rows", 2, `SELECT count(*) FROM messages WHERE status = 'sent'`)
	h.wantCount("runs done", 2, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
}

// A fallback rung renders its step's template with the run's trigger
// payload, as the step did (examples/growfood/order-receipt.yaml's SMS and
// email rungs use .Payload.order_id).
func TestFallbackRungRendersWithTheRunPayload(t *testing.T) {
	h := setup(t)
	def := sendDef("receipt", campaigns.Step{ID: "receipt", Send: &campaigns.SendStep{Template: "receipt"}},
		campaigns.Step{ID: "end", End: &campaigns.EndStep{}})
	def.Templates["receipt"] = campaigns.Template{
		"default": {"ru": {Text: "Заказ {{.Payload.order_id}} принят"}},
		"email":   {"ru": {Subject: "Заказ {{.Payload.order_id}}", Text: "Заказ {{.Payload.order_id}} принят, {{.Subscriber.Name}}"}},
	}
	def.Settings.Fallback = emailRung()
	v := h.campaign(def)
	subs := h.subscribers(1, "UTC")
	h.sandbox.Script("sb"+itoa(subs[0]), sandbox.Behavior{Fail: channels.Blocked}) // falls back at once
	h.start("receipt", v, subs, t0)
	h.exec(`UPDATE flow_runs SET context = '{"payload": {"order_id": "A-17"}}' WHERE subscriber_id = $1`, subs[0])
	h.settle()
	var text string
	if err := h.db.Get(&text, `SELECT text FROM sandbox_sends WHERE channel = 'email'`); err != nil {
		var rows []string
		_ = h.db.Select(&rows, `SELECT concat_ws(' ', idempotency_key, channel, status, error_kind, error_message) FROM messages ORDER BY id`)
		t.Fatalf("email fallback not sent (%v); messages:\n%s", err, strings.Join(rows, "\n"))
	}
	if !strings.Contains(text, "Заказ A-17 принят") {
		t.Fatalf("email fallback text %q, want the order id from the run's payload", text)
	}
	h.wantCount("sent attempt-1 messages", 1, `SELECT count(*) FROM messages WHERE attempt = 1 AND status = 'sent'`)
}

// A manager's reply (inbox.Outbox) goes through the outbox: recorded once
// per key, sent once, and a block is handled as for any send.
func TestPersonMessageThroughTheOutbox(t *testing.T) {
	h := setup(t)
	subs := h.subscribers(2, "UTC")
	ctx := context.Background()
	m := channels.Message{IdempotencyKey: "manager:1:a", Channel: channels.Sandbox, To: "sb" + itoa(subs[0]), Text: "Здравствуйте"}
	for i := 0; i < 2; i++ {
		_, sent, err := h.engine.SendText(ctx, subs[0], m)
		if err != nil || sent != (i == 0) {
			t.Fatalf("send %d: sent %v, %v", i+1, sent, err)
		}
	}
	h.wantCount("provider sends", 1, `SELECT count(*) FROM sandbox_sends WHERE idempotency_key = 'manager:1:a'`)
	var st, text string
	if err := h.db.QueryRow(`SELECT status, content->>'text' FROM messages WHERE idempotency_key = 'manager:1:a'`).Scan(&st, &text); err != nil ||
		st != "sent" || text != "Здравствуйте" {
		t.Fatalf("message %q %q (%v)", st, text, err)
	}
	h.sandbox.Script("sb"+itoa(subs[1]), sandbox.Behavior{Fail: channels.Blocked})
	_, _, err := h.engine.SendText(ctx, subs[1], channels.Message{IdempotencyKey: "manager:2:a", Channel: channels.Sandbox,
		To: "sb" + itoa(subs[1]), Text: "Алло"})
	if channels.KindOf(err) != channels.Blocked {
		t.Fatalf("blocked send: %v", err)
	}
	h.wantCount("blocked identities", 1, `SELECT count(*) FROM channel_identities WHERE subscriber_id = $1 AND blocked_at IS NOT NULL`, subs[1])
	if _, _, err := h.engine.SendText(ctx, subs[1], channels.Message{Channel: channels.Sandbox, To: "x"}); err == nil {
		t.Fatal("a message without a key was accepted")
	}
}

// TestFailedStatusFallsBackOnEngineClock: a provider reports a failure with
// its own timestamp (here a wall-clock date far from the simulated engine
// time): the fallback becomes due on the engine's clock at once, not at the
// provider's time.
func TestFailedStatusFallsBackOnEngineClock(t *testing.T) {
	h := setup(t)
	def := sendDef("fbclock")
	def.Settings.Fallback = emailRung()
	_, subs := h.blastDef(def, 1, "UTC", t0)
	h.settle()
	var pid string
	if err := h.db.Get(&pid, `SELECT provider_id FROM messages WHERE subscriber_id = $1 AND attempt = 0`, subs[0]); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{t0.AddDate(3, 0, 0), t0.AddDate(-3, 0, 0)} {
		ev := channels.Event{Type: channels.EventFailed, Channel: channels.Sandbox, ProviderMessageID: pid,
			ErrorKind: channels.NotReachable, At: at, ProviderAt: at}
		if err := h.engine.Statuses.Apply(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	var fb time.Time
	if err := h.db.Get(&fb, `SELECT failed_at FROM messages WHERE subscriber_id = $1 AND attempt = 0`, subs[0]); err != nil {
		t.Fatal(err)
	}
	if !fb.Equal(h.clock.Now()) {
		t.Fatalf("failed_at = %v, want the engine's now %v", fb, h.clock.Now())
	}
	h.settle()
	if n := h.count(`SELECT count(*) FROM sandbox_sends WHERE channel = 'email'`); n != 1 {
		t.Fatalf("email fallbacks after a failure reported with a provider time = %d, want 1 at once", n)
	}
}
