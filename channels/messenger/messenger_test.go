package messenger_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/messenger"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
	"github.com/nudge-engine/nudge/channels/meta"
)

type setup = channeltest.Rig[*messengerfake.Server, *messenger.Client, messenger.Config]

func newSetup(t *testing.T) *setup {
	q := &channeltest.Timers{}
	s := channeltest.NewRig[*messenger.Client, messenger.Config](t, q, messengerfake.New(messengerfake.Options{After: q.After}))
	o := s.Fake.Options()
	s.Wire(messenger.Config{Account: "page1", App: meta.App{APIURL: s.Fake.URL(), AppSecret: o.AppSecret, VerifyToken: "v"}, PageToken: o.PageToken}, messenger.NewWebhook, messenger.New)
	s.Fake.SetWebhook(s.Hook.URL)
	return s
}

func TestSendQuickReplies(t *testing.T) {
	s := newSetup(t)
	res := channeltest.Send(t, s.Client, channels.Message{To: "psid1", Text: "Как вам ужин?",
		Buttons: []channels.Button{{ID: "yes", Text: "Да"}, {ID: "no", Text: "Нет"}}})
	sent := s.Fake.Sent()
	if len(sent) != 1 || sent[0].MID != res.ProviderID || sent[0].MessagingType != "UPDATE" {
		t.Fatalf("%+v", sent)
	}
	qr := sent[0].Body["message"].(map[string]any)["quick_replies"].([]any)
	if len(qr) != 2 || qr[0].(map[string]any)["payload"] != "yes" {
		t.Fatalf("quick replies %v", qr)
	}
}

func TestSendShapes(t *testing.T) {
	channeltest.SendShapes(t, func(t *testing.T) (channels.Sender, func() []messengerfake.Sent) {
		s := newSetup(t)
		return s.Client, s.Fake.Sent
	}, func(m messengerfake.Sent) string { return m.MID }, []channeltest.Shape[messengerfake.Sent]{
		{Name: "link and postback buttons use a button template", Msg: channels.Message{To: "p", Text: "Меню недели",
			Buttons: []channels.Button{{Text: "Открыть", URL: "https://growfood.example/menu"}, {ID: "renew", Text: "Продлить"}}}, Parts: 1,
			Check: func(t *testing.T, sent []messengerfake.Sent) {
				att := sent[0].Body["message"].(map[string]any)["attachment"].(map[string]any)
				if att["type"] != "template" {
					t.Errorf("%v", att)
				}
			}},
		{Name: "image with text is two messages, image first", Msg: channels.Message{To: "p", Text: "Меню", ImageURL: "https://cdn.example/m.jpg"}, Parts: 2,
			Check: func(t *testing.T, sent []messengerfake.Sent) {
				if _, ok := sent[0].Body["message"].(map[string]any)["attachment"]; !ok {
					t.Error("first part is not the image")
				}
			}},
		{Name: "tag outside window", Msg: channels.Message{To: "p", Text: "Менеджер ответил", Tag: "HUMAN_AGENT"}, Parts: 1,
			Check: func(t *testing.T, sent []messengerfake.Sent) {
				if sent[0].MessagingType != "MESSAGE_TAG" || sent[0].Tag != "HUMAN_AGENT" {
					t.Errorf("%+v", sent[0])
				}
			}},
	})
}

func TestSendRateLimitedThenSuccessNoDuplicate(t *testing.T) {
	s := newSetup(t)
	s.Fake.FailNext(613, 0, "(#613) Calls to this api have exceeded the rate limit.")
	channeltest.RateLimitedThenSent(t, s.Client, channels.Message{To: "psid2", Text: "Напоминание"}, "613", 0, s.Fake.Accepted)
}

func TestSendErrors(t *testing.T) {
	channeltest.SendErrors(t, newSetup, []channeltest.SendError[*messengerfake.Server]{
		{Name: "blocked", Script: func(f *messengerfake.Server) { f.Block("b") }, Msg: channels.Message{To: "b", Text: "x"}, Kind: channels.Blocked, Code: "551/1545041"},
		{Name: "window closed", Script: func(f *messengerfake.Server) { f.CloseWindow("w") }, Msg: channels.Message{To: "w", Text: "x"}, Kind: channels.WindowClosed, Code: "10/2018278"},
		{Name: "no matching user", Script: func(f *messengerfake.Server) { f.Unknown("u") }, Msg: channels.Message{To: "u", Text: "x"}, Kind: channels.NotReachable, Code: "100/2018001"},
		{Name: "temporary", Script: func(f *messengerfake.Server) { f.FailNext(2, 0, "Service temporarily unavailable") }, Msg: channels.Message{To: "t", Text: "x"}, Kind: channels.Transient, Code: "2"},
		{Name: "http 502", Script: func(f *messengerfake.Server) { f.FailNext(502, 0, "") }, Msg: channels.Message{To: "t", Text: "x"}, Kind: channels.Transient, Code: "502"},
		{Name: "unknown tag", Msg: channels.Message{To: "t", Text: "x", Tag: "PROMO"}, Kind: channels.Invalid, Code: "nudge_limits"},
		{Name: "14 quick replies", Msg: channels.Message{To: "t", Text: "x", Buttons: make14()}, Kind: channels.Invalid, Code: "nudge_limits"},
	})
}

func make14() []channels.Button {
	var bs []channels.Button
	for i := 0; i < 14; i++ {
		bs = append(bs, channels.Button{ID: string(rune('a' + i)), Text: string(rune('A' + i))})
	}
	return bs
}

func TestTagPassesClosedWindow(t *testing.T) {
	s := newSetup(t)
	s.Fake.CloseWindow("w")
	channeltest.Send(t, s.Client, channels.Message{To: "w", Text: "Ответ менеджера", Tag: "HUMAN_AGENT"})
}

func TestReceiptsAndInboundThroughFake(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	s.Fake.SetPlan("p9", messengerfake.Plan{Delivered: time.Second, Read: time.Minute})
	res := channeltest.Send(t, s.Client, channels.Message{To: "p9", Text: "Меню"})
	s.Timers.Run()
	if _, err := s.Fake.Postback(ctx, "p10", "Начать", "GET_STARTED", "GF-7K2Q"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fake.Referral(ctx, "p11", "GF-AAAA"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fake.QuickReply(ctx, "p9", "Да", "yes"); err != nil {
		t.Fatal(err)
	}
	if errs := s.Fake.WebhookErrors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	evs, _ := s.Sink.Got()
	type got struct {
		typ                  channels.EventType
		from, code, pl, pmid string
	}
	want := []got{
		{channels.EventDelivered, "p9", "", "", res.ProviderID},
		{channels.EventRead, "p9", "", "", ""},
		{channels.EventStart, "p10", "GF-7K2Q", "", ""}, // Get Started only opened the thread
		{channels.EventStart, "p11", "GF-AAAA", "", ""},
		{channels.EventButton, "p9", "", "yes", ""},
	}
	channeltest.WantEvents(t, evs, want, func(e channels.Event) got {
		return got{e.Type, e.From, e.Code, e.Payload, e.ProviderMessageID}
	})
	if evs[0].Watermark.IsZero() || evs[1].Watermark.IsZero() {
		t.Error("receipts without watermark")
	}
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	s := newSetup(t)
	channeltest.WantSignedOnly(t, s.Hook.URL, meta.SignatureHeader, channeltest.Testdata(t, "text.json"), s.Cfg.AppSecret, meta.Sign)
	if _, calls := s.Sink.Got(); calls != 1 {
		t.Fatalf("sink called %d times, want 1 (only the signed request)", calls)
	}
}

func TestParseFixtures(t *testing.T) {
	type want struct {
		typ                    channels.EventType
		from, text, payload    string
		code, pmid, providerEv string
	}
	for _, tc := range []struct {
		file string
		want []want
	}{
		{"text.json", []want{{channels.EventText, "6251234567890123", "Когда доставка? / When is delivery?", "", "", "", "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}}},
		{"quick_reply.json", []want{{channels.EventButton, "6251234567890123", "Да", "like_yes", "", "", "m_QR1"}}},
		{"postback_ref.json", []want{
			// Get Started after an m.me ?ref= link opens the thread: the
			// start alone, no press for the inbox.
			{channels.EventStart, "6251234567890124", "", "", "GF-7K2Q", "", "m_PB1:ref"},
		}},
		{"referral.json", []want{{channels.EventStart, "6251234567890125", "", "", "GF-9ZZ1", "", "referral:6251234567890125:1732190300000"}}},
		{"delivery_read.json", []want{
			{channels.EventDelivered, "6251234567890123", "", "", "", "mid.1458668856218:ed81099e15d3f4f233", "delivery:6251234567890123:1458668856253:mid.1458668856218:ed81099e15d3f4f233"},
			{channels.EventRead, "6251234567890123", "", "", "", "", "read:6251234567890123:1458668856253"},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			evs, _ := channeltest.Parsed(t, tc.file, func(body []byte) ([]channels.Event, error) { return messenger.Parse(body, "page1") })
			channeltest.WantEvents(t, evs, tc.want, func(e channels.Event) want {
				return want{e.Type, e.From, e.Text, e.Payload, e.Code, e.ProviderMessageID, e.ProviderEventID}
			})
		})
	}
	evs, _ := messenger.Parse([]byte(`{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"delivery":{"watermark":1458668856253}}]}]}`), "")
	if len(evs) != 1 || !evs[0].Watermark.Equal(time.UnixMilli(1458668856253)) {
		t.Errorf("watermark-only delivery: %+v", evs)
	}
}

func FuzzParse(f *testing.F) {
	fixtures := []string{"text.json", "quick_reply.json", "postback_ref.json", "referral.json", "delivery_read.json", "attachments.json"}
	channeltest.FuzzParse(f, fixtures, func(body []byte) ([]channels.Event, error) { return messenger.Parse(body, "p") },
		func(e channels.Event) bool { return e.Type == "" || e.From == "" || e.ProviderEventID == "" })
}

// TestWebhookAttributesEachPagesEvents: one Meta app posts every page's
// events to one callback; each entry goes to the account of the page it
// names, an unknown page stays with the webhook's own account.
func TestWebhookAttributesEachPagesEvents(t *testing.T) {
	body := channeltest.Testdata(t, "text.json") // entry.id 105791231234567
	for _, tc := range []struct {
		routes meta.Routes
		want   string
	}{
		{meta.Routes{"105791231234567": "brand-b"}, "brand-b"},
		{meta.Routes{"1": "brand-b"}, "main"},
	} {
		cfg := messenger.Config{Account: "main", App: meta.App{AppSecret: "s3cret", VerifyToken: "v"}, Routes: tc.routes}
		sink, hook := channeltest.Webhook(t, messenger.NewWebhook, cfg)
		if st, _ := channeltest.Post(t, hook.URL, "", body, map[string]string{meta.SignatureHeader: meta.Sign("s3cret", body)}); st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		evs, _ := sink.Got()
		if len(evs) == 0 || evs[0].Account != tc.want {
			t.Fatalf("routes %v: events %+v, want account %s", tc.routes, evs, tc.want)
		}
	}
}
