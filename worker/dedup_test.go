package worker

import (
	"testing"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
	"github.com/nudge-engine/nudge/internal/ratelimit"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestDeduplicatingProviderWritesEachMessageOnce: a blast through VK's
// adapter and fake (a provider called message by message that deduplicates
// on the message key, with no account rate) sends each subscriber one
// message, and the claim writes each message row once, with its outcome:
// no row goes in flight before its call to be updated after it
// (sendGrouped), which a trigger counting updates of messages would see.
func TestDeduplicatingProviderWritesEachMessageOnce(t *testing.T) {
	vkf := vkfake.New()
	vkf.RatePerSecond = 0
	t.Cleanup(vkf.Close)
	h := setup(t, func(_ *harness, c *Config, _ *sandbox.Config) {
		c.Senders = append(c.Senders, vk.New(vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: vkf.APIURL()}, GroupID: vkfake.GroupID}, nil))
	})
	h.exec(`CREATE TABLE test_message_updates (id bigint NOT NULL)`)
	h.exec(`CREATE FUNCTION test_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO test_message_updates VALUES (NEW.id); RETURN NULL; END $$`)
	h.exec(`CREATE TRIGGER test_count_update AFTER UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION test_count_update()`)
	const n = 150 // claims of 50 (the harness's BatchSize): groups of 32 and 18
	def := vkBlast(h, vkf, "vk-blast", n)
	if got := h.count(`SELECT count(*) FROM messages WHERE channel = 'vk' AND status = 'sent'
	                    AND provider_id IS NOT NULL AND sent_at IS NOT NULL`); got != n {
		t.Fatalf("%d messages recorded sent with their provider id, want %d", got, n)
	}
	if got := h.count(`SELECT count(*) FROM test_message_updates`); got != 0 {
		t.Fatalf("%d updates of message rows, want 0: each row is written once, with its outcome", got)
	}
	if got := h.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = $1 AND state = 'done'`, def.ID); got != n {
		t.Fatalf("%d runs done, want %d", got, n)
	}
}

// TestRateLimitedVKSendsRequestsOfManyMessages: at an account rate, VK's
// messages go in execute requests of 25, one limiter slot per request, so a
// community's 20 requests a second carry 500 messages, not 20. The fake
// enforces its own 20 requests a second (error 6 beyond it); every
// subscriber gets one message, none refused, in about messages / 25 requests.
func TestRateLimitedVKSendsRequestsOfManyMessages(t *testing.T) {
	vkf := vkfake.New() // RatePerSecond 20, as VK's community tokens
	t.Cleanup(vkf.Close)
	var requests testenv.HTTPCalls
	h := setup(t, withLimiter(map[string]ratelimit.Rate{"vk": {PerSecond: vk.DefaultRate.PerSecond}}), func(_ *harness, c *Config, _ *sandbox.Config) {
		c.Senders = append(c.Senders, vk.New(vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: vkf.APIURL()}, GroupID: vkfake.GroupID}, requests.Client()))
	})
	const n = 200 // claims of up to 50 (the harness's BatchSize), two requests of 25 each
	vkBlast(h, vkf, "vk-paced", n)
	if got := h.count(`SELECT count(*) FROM messages WHERE channel = 'vk' AND status = 'sent' AND tries = 0`); got != n {
		t.Fatalf("%d messages sent at the first try, want %d (none refused by the fake's rate)", got, n)
	}
	// n/25 when every claim holds whole requests; claims that split the
	// runs otherwise (concurrent claims) end in a part-filled one.
	if got, most := requests.N(), int64(2*n/vk.MaxExecuteCalls); got > most {
		t.Fatalf("%d requests for %d messages, want at most %d", got, n, most)
	}
}

// vkBlast sends a campaign of one VK message to n new subscribers, waits
// until the engine settles and checks that VK's fake got one message for
// each; it returns the campaign.
func vkBlast(h *harness, vkf *vkfake.Server, id string, n int) campaigns.Definition {
	h.t.Helper()
	def := sendDef(id)
	def.Settings.Channels = []string{"vk"}
	v := h.campaign(def)
	subs := h.subscribers(n, "UTC")
	h.exec(`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'vk', id::text FROM unnest($1::bigint[]) id`, pq.Array(subs))
	h.start(def.ID, v, subs, t0)
	h.settle()
	perPeer := map[int64]int{}
	for _, m := range vkf.Sent() {
		perPeer[m.PeerID]++
	}
	for _, s := range subs {
		if perPeer[s] != 1 {
			h.t.Fatalf("subscriber %d got %d messages, want 1", s, perPeer[s])
		}
	}
	return def
}
