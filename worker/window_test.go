package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/messenger"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/sandbox"
)

// withSender adds a provider adapter to the engine's senders.
func withSender(s channels.Sender) option {
	return func(_ *harness, c *Config, _ *sandbox.Config) { c.Senders = append(c.Senders, s) }
}

// setupMessenger is the harness with the real Messenger adapter sending to
// the Messenger fake, which the caller scripts and reads.
func setupMessenger(t *testing.T) (*harness, *messengerfake.Server) {
	t.Helper()
	fb := messengerfake.New(messengerfake.Options{})
	t.Cleanup(fb.Close)
	o := fb.Options()
	return setup(t, withSender(messenger.New(messenger.Config{App: meta.App{APIURL: fb.URL(), AppSecret: o.AppSecret}, PageToken: o.PageToken}, nil))), fb
}

// startTaggedAndPlain starts two service campaigns with settings s, one new
// subscriber in Moscow each, due at t0: tagged, whose Messenger variant
// carries the POST_PURCHASE_UPDATE tag, and plain, whose variant has none.
// Each subscriber's Messenger address is "psid-" and the campaign id, with
// an inbound an hour before t0: Nudge believes the window open.
func (h *harness) startTaggedAndPlain(tagged, plain string, s campaigns.Settings) {
	h.t.Helper()
	tags := map[string]string{tagged: "POST_PURCHASE_UPDATE", plain: ""}
	subs := h.subscribers(2, "Europe/Moscow")
	for i, id := range []string{tagged, plain} {
		def := sendDef(id)
		def.Topic = campaigns.TopicService
		def.Settings = s
		def.Templates["hello"]["messenger"] = map[string]campaigns.Variant{"ru": {Text: "Заказ едет, {{.Subscriber.Name}}", Tag: tags[id]}}
		v := h.campaign(def)
		h.exec(`INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at) VALUES ($1, 'messenger', $2, $3)`,
			subs[i], "psid-"+id, t0.Add(-time.Hour))
		h.start(id, v, subs[i:i+1], t0)
	}
}

// TestWindowClosedRetriesWithTagOrFallsBack: Messenger refuses untagged
// messages to two customers whose window Nudge believes open (10/2018278).
// The variant with a message tag is sent again with it, once; the one
// without falls to the email rung at once, its Messenger row failed with
// window_closed. Nothing is dropped.
func TestWindowClosedRetriesWithTagOrFallsBack(t *testing.T) {
	h, fb := setupMessenger(t)
	fb.CloseWindow("psid-fb-tagged")
	fb.CloseWindow("psid-fb-plain")
	h.startTaggedAndPlain("fb-tagged", "fb-plain", campaigns.Settings{Channels: []string{"messenger"},
		Fallback: emailRung()})
	h.settle()

	sent := fb.Sent()
	if len(sent) != 1 || sent[0].To != "psid-fb-tagged" {
		t.Fatalf("messenger accepted %+v, want the tagged retry only", sent)
	}
	row := func(campaign, channel string) (status, kind, reason string) {
		var r struct{ Status, Kind, Reason string }
		if err := h.db.Get(&r, `SELECT status, coalesce(error_kind, '') AS kind, coalesce(reason, '') AS reason FROM messages
			WHERE campaign_id = $1 AND channel = $2`, campaign, channel); err != nil {
			t.Fatalf("%s on %s: %v", campaign, channel, err)
		}
		return r.Status, r.Kind, r.Reason
	}
	if st, _, reason := row("fb-tagged", "messenger"); st != "sent" || reason != ReasonWindowClosedRetried {
		t.Errorf("tagged: %s, reason %q", st, reason)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE campaign_id = 'fb-tagged' AND channel = 'email'`); n != 0 {
		t.Errorf("tagged: %d email rungs, want none", n)
	}
	if st, kind, _ := row("fb-plain", "messenger"); st != "failed" || kind != string(channels.WindowClosed) {
		t.Errorf("plain on messenger: %s %s, want failed window_closed", st, kind)
	}
	if st, _, _ := row("fb-plain", "email"); st != "sent" && st != "delivered" {
		t.Errorf("plain on the email rung: %q", st)
	}
}

// TestWindowClosedReportedLaterRetriesWithTag: the provider accepts the
// free-form message and reports later that it was outside the window (a
// failed status with window_closed, as WhatsApp's 131047 arrives). The
// variant's tag is sent once on the same channel, with no ladder in the
// campaign; a variant without a tag stays failed.
func TestWindowClosedReportedLaterRetriesWithTag(t *testing.T) {
	h, fb := setupMessenger(t)
	h.startTaggedAndPlain("late-tagged", "late-plain", campaigns.Settings{Channels: []string{"messenger"}})
	h.settle()
	sent := fb.Sent()
	if len(sent) != 2 || sent[0].Tag != "" || sent[1].Tag != "" {
		t.Fatalf("first sends %+v, want two free-form", sent)
	}
	for _, s := range sent {
		if err := h.engine.Statuses.Apply(context.Background(), channels.Event{Type: channels.EventFailed, Channel: channels.Messenger,
			ProviderMessageID: s.MID, ErrorKind: channels.WindowClosed, ErrorCode: "10/2018278", At: h.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	h.settle()
	sent = fb.Sent()
	if len(sent) != 3 || sent[2].To != "psid-late-tagged" || sent[2].Tag != "POST_PURCHASE_UPDATE" || sent[2].MessagingType != "MESSAGE_TAG" {
		t.Fatalf("sends %+v, want the tagged one again with its tag", sent)
	}
	var rows []string
	if err := h.db.Select(&rows, `SELECT campaign_id || ':' || status || ':' || coalesce(reason, '') FROM messages ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows, " ") != "late-tagged:failed: late-plain:failed: late-tagged:sent:"+ReasonWindowClosedRetried {
		t.Fatalf("messages %v", rows)
	}
}
