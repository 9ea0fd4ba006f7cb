package worker

import (
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// Kill -9 a worker process mid-blast through Telegram, which does not
// deduplicate: no customer gets the message twice, and the customers who
// may have no message or one are exactly those of the messages recorded
// unknown, at most one ledger group in flight per claim.
func TestKill9MidTelegramBlastSendsNoDuplicate(t *testing.T) {
	h := setupDB(t)
	tg := telegramfake.New()
	defer tg.Close()
	def := sendDef("tg")
	def.Settings.Channels = []string{"telegram"}
	v := h.campaign(def)
	const n, concurrency = 600, 4
	subs := h.subscribers(n, "UTC")
	h.exec(`INSERT INTO channel_identities (subscriber_id, channel, address)
SELECT id, 'telegram', (100000 + id)::text FROM unnest($1::bigint[]) id`, pq.Array(subs))
	h.start("tg", v, subs, time.Now().Add(-time.Minute))
	env := []string{"NUDGE_TELEGRAM_TOKEN=" + telegramfake.Token, "NUDGE_TELEGRAM_WEBHOOK_SECRET=s3cret",
		"NUDGE_TELEGRAM_API_URL=" + tg.URL, "NUDGE_WORKER_CONCURRENCY=4"}
	a := h.startWorker(env...)
	testenv.WaitFor(h.t, "the first 120 sends", time.Minute, func() bool { return len(tg.Sent()) >= 120 })
	h.killWorker(a)
	atKill := len(tg.Sent())
	if atKill >= n {
		t.Fatalf("the blast finished before the kill (%d sends)", atKill)
	}
	inFlight := h.count(`SELECT count(*) FROM messages WHERE status = 'in_flight'`)
	b := h.startWorker(env...)
	h.waitDone(n, 3*time.Minute)
	h.stopWorker(b)
	got := map[int64]int{}
	for _, s := range tg.Sent() {
		got[s.ChatID]++
	}
	var unknown []int64
	if err := h.db.Select(&unknown, `SELECT subscriber_id FROM messages WHERE status = 'unknown'`); err != nil {
		t.Fatal(err)
	}
	isUnknown := map[int64]bool{}
	for _, s := range unknown {
		isUnknown[s] = true
	}
	dups, missing, unknownGot := 0, 0, 0
	for _, s := range subs {
		c := got[100000+s]
		switch {
		case c > 1:
			dups++
		case isUnknown[s]:
			unknownGot += c
		case c == 0:
			missing++
		}
	}
	t.Logf("killed at %d of %d sends with %d messages in flight; %d unknown afterwards (%d of them reached the customer)",
		atKill, n, inFlight, len(unknown), unknownGot)
	if dups > 0 {
		t.Fatalf("%d customers got the message twice", dups)
	}
	if missing > 0 {
		t.Fatalf("%d customers without a message whose message is not recorded unknown", missing)
	}
	// Telegram is called message by message; a claim's ledger group is what
	// the bot sends in inFlightSpan at its default rate (3 at 30/s).
	group := max(int(telegram.DefaultRate.PerSecond*inFlightSpan.Seconds()), 1)
	if len(unknown) != inFlight || len(unknown) > concurrency*group {
		t.Fatalf("%d messages unknown; %d were in flight at the kill, at most %d can be", len(unknown), inFlight, concurrency*group)
	}
	if sent := h.count(`SELECT count(*) FROM messages WHERE status = 'sent'`); sent != n-len(unknown) {
		t.Fatalf("sent messages = %d, want %d", sent, n-len(unknown))
	}
}
