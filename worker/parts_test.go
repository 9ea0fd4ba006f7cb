package worker

import (
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// A message that goes out as several Bot API calls (an album and then its
// text with buttons; a photo and then a document) whose second call fails
// once is retried from that call: the customer gets each part exactly once,
// and the record of the parts goes when the message is sent.
func TestMultiPartRetryResumesAtTheFailedPart(t *testing.T) {
	tg := telegramfake.New()
	t.Cleanup(tg.Close)
	h := setup(t, withSender(telegram.New(telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: tg.URL}}, nil)))
	album := []string{"https://static.example/1.jpg", "https://static.example/2.jpg", "https://static.example/3.jpg"}
	variants := map[string]campaigns.Variant{
		"album": {Text: "Меню недели", Images: album, Buttons: []campaigns.Button{{ID: "renew", Text: "Продлить"}}},
		"doc": {Text: "Ваш чек", Image: "https://static.example/receipt.jpg",
			Document: &campaigns.Document{URL: "https://shop.example/receipts/A-42.pdf"}},
	}
	subs := h.subscribers(2, "UTC")
	chats := map[string]int64{}
	for i, id := range []string{"album", "doc"} {
		def := sendDef(id)
		def.Settings.Channels = []string{"telegram"}
		def.Templates["hello"]["telegram"] = map[string]campaigns.Variant{"ru": variants[id]}
		v := h.campaign(def)
		chats[id] = 500000 + subs[i]
		h.exec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2)`, subs[i], itoa(chats[id]))
		tg.FailNext(chats[id], telegramfake.Pass)
		tg.FailNext(chats[id], telegramfake.ServerError)
		h.start(id, v, subs[i:i+1], t0)
	}
	h.settle()
	h.wantCount("message_parts rows after the failed tries", 2, `SELECT count(*) FROM message_parts WHERE parts_sent = 1`)
	h.wantCount("pending messages after the failed tries", 2, `SELECT count(*) FROM messages WHERE status = 'pending' AND tries = 1`)
	h.clock.Advance(time.Minute)
	h.settle()

	methods := func(chat int64) map[string]int {
		got := map[string]int{}
		for _, s := range tg.SentTo(chat) {
			got[s.Method]++
		}
		return got
	}
	a := methods(chats["album"])
	if len(a) != 2 || a["sendMediaGroup"] != len(album) || a["sendMessage"] != 1 {
		t.Errorf("album chat got %v, want the %d photos and the text once each", a, len(album))
	}
	var groups = map[string]bool{}
	for _, s := range tg.SentTo(chats["album"]) {
		if s.MediaGroupID != "" {
			groups[s.MediaGroupID] = true
		}
	}
	if len(groups) != 1 {
		t.Errorf("album sent as %d media groups, want 1", len(groups))
	}
	if d := methods(chats["doc"]); len(d) != 2 || d["sendPhoto"] != 1 || d["sendDocument"] != 1 {
		t.Errorf("document chat got %v, want the photo and the document once each", d)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE status = 'sent' AND channel = 'telegram'`); n != 2 {
		t.Errorf("sent messages = %d, want 2", n)
	}
	if n := h.count(`SELECT count(*) FROM message_parts`); n != 0 {
		t.Errorf("%d message_parts rows left after the sends", n)
	}
}

// A weekly menu of three photos on WhatsApp inside the 24h window goes
// image by image; the fake's pair limit (one message per 6 s to a
// recipient) refuses each next image (131056), and every retry resumes at
// the refused one: the customer gets the three images once each, in order,
// the caption on the first.
func TestWhatsAppAlbumThroughThePairLimit(t *testing.T) {
	var now func() time.Time
	wa := whatsappfake.New(whatsappfake.Options{Now: func() time.Time { return now() }})
	t.Cleanup(wa.Close)
	o := wa.Options()
	h := setup(t, withSender(whatsapp.New(whatsapp.Config{App: meta.App{APIURL: wa.URL(), AppSecret: o.AppSecret, VerifyToken: "v"}, Token: o.Token, PhoneNumberID: o.PhoneNumberID,
		WABAID: o.WABAID, Account: "main"}, nil)))
	now = h.clock.Now
	album := []string{"https://static.example/1.jpg", "https://static.example/2.jpg", "https://static.example/3.jpg"}
	def := sendDef("wa-album")
	def.Topic = campaigns.TopicService
	def.Settings.Channels = []string{"whatsapp"}
	def.Templates["hello"]["whatsapp"] = map[string]campaigns.Variant{"ru": {Text: "Меню недели", Images: album}}
	v := h.campaign(def)
	subs := h.subscribers(1, "UTC")
	h.exec(`INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at) VALUES ($1, 'whatsapp', '+79161234567', $2)`,
		subs[0], t0.Add(-time.Hour))
	h.start("wa-album", v, subs, t0)
	for i := 0; i < 4; i++ {
		h.settle()
		h.clock.Advance(7 * time.Second)
	}
	sent := wa.Sent()
	if len(sent) != len(album) {
		t.Fatalf("%d messages accepted, want %d: %+v", len(sent), len(album), sent)
	}
	for i, s := range sent {
		img, _ := s.Body["image"].(map[string]any)
		caption, _ := img["caption"].(string)
		if s.Type != "image" || img["link"] != album[i] || (i == 0) != (caption == "Меню недели") {
			t.Errorf("message %d: %+v", i, s.Body)
		}
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE channel = 'whatsapp' AND status = 'sent'`); n != 1 {
		t.Errorf("sent message rows = %d, want 1", n)
	}
}
