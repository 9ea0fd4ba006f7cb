package instagram_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/instagram"
	"github.com/nudge-engine/nudge/channels/instagram/instagramfake"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/meta"
)

// setup is an adapter wired to its fake both ways: sends go to the fake's
// /<IG_ID>/messages, the fake's signed webhooks to the adapter's handler.
type setup = channeltest.Rig[*instagramfake.Server, *instagram.Client, instagram.Config]

func newSetup(t *testing.T) *setup {
	q := &channeltest.Timers{}
	s := channeltest.NewRig[*instagram.Client, instagram.Config](t, q, instagramfake.New(instagramfake.Options{After: q.After}))
	o := s.Fake.Options()
	s.Wire(instagram.Config{Account: "ig1", App: meta.App{APIURL: s.Fake.URL(), AppSecret: o.AppSecret, VerifyToken: "v"}, Token: o.PageToken, AccountID: o.PageID}, instagram.NewWebhook, instagram.New)
	s.Fake.SetWebhook(s.Hook.URL)
	return s
}

func message(t *testing.T, sent instagramfake.Sent) map[string]any {
	t.Helper()
	m, ok := sent.Body["message"].(map[string]any)
	if !ok {
		t.Fatalf("no message in %v", sent.Body)
	}
	return m
}

func TestSendShapes(t *testing.T) {
	channeltest.SendShapes(t, func(t *testing.T) (channels.Sender, func() []instagramfake.Sent) {
		s := newSetup(t)
		s.Fake.CloseWindow("closed")
		return s.Client, s.Fake.Sent
	}, func(m instagramfake.Sent) string { return m.MID }, []channeltest.Shape[instagramfake.Sent]{
		{Name: "quick replies inside the window", Msg: channels.Message{To: "igsid1", Text: "Как вам ужин?",
			Buttons: []channels.Button{{ID: "yes", Text: "Да"}, {ID: "no", Text: "Нет"}}}, Parts: 1,
			Check: func(t *testing.T, sent []instagramfake.Sent) {
				qr, _ := message(t, sent[0])["quick_replies"].([]any)
				if sent[0].MessagingType != "RESPONSE" || len(qr) != 2 || qr[1].(map[string]any)["payload"] != "no" {
					t.Errorf("%+v", sent[0])
				}
			}},
		{Name: "link buttons become text lines, reply buttons quick replies", Msg: channels.Message{To: "igsid1", Text: "Меню недели",
			Buttons: []channels.Button{{Text: "Открыть", URL: "https://growfood.example/menu"}, {ID: "renew", Text: "Продлить"}}}, Parts: 1,
			Check: func(t *testing.T, sent []instagramfake.Sent) {
				m := message(t, sent[0])
				if m["text"] != "Меню недели\nОткрыть: https://growfood.example/menu" || len(m["quick_replies"].([]any)) != 1 {
					t.Errorf("%v", m)
				}
			}},
		{Name: "image with text is two messages, image first, not reusable", Msg: channels.Message{To: "igsid1", Text: "Меню", ImageURL: "https://cdn.example/m.jpg"}, Parts: 2,
			Check: func(t *testing.T, sent []instagramfake.Sent) {
				att, _ := message(t, sent[0])["attachment"].(map[string]any)
				pl, _ := att["payload"].(map[string]any)
				if att["type"] != "image" || pl["url"] != "https://cdn.example/m.jpg" || pl["is_reusable"] != nil {
					t.Errorf("first part %v", att)
				}
			}},
		{Name: "HUMAN_AGENT tag passes a closed window", Msg: channels.Message{To: "closed", Text: "Менеджер ответил", Tag: "HUMAN_AGENT"}, Parts: 1,
			Check: func(t *testing.T, sent []instagramfake.Sent) {
				if sent[0].MessagingType != "MESSAGE_TAG" || sent[0].Tag != "HUMAN_AGENT" {
					t.Errorf("%+v", sent[0])
				}
			}},
	})
}

func TestSendErrors(t *testing.T) {
	long := strings.Repeat("ж", 501) // 1002 bytes, 501 characters
	channeltest.SendErrors(t, newSetup, []channeltest.SendError[*instagramfake.Server]{
		{Name: "window closed (403 IGApiException)", Script: func(f *instagramfake.Server) { f.CloseWindow("w") }, Msg: channels.Message{To: "w", Text: "x"}, Kind: channels.WindowClosed, Code: "10/2534022"},
		{Name: "blocked", Script: func(f *instagramfake.Server) { f.Block("b") }, Msg: channels.Message{To: "b", Text: "x"}, Kind: channels.Blocked, Code: "551/1545041"},
		{Name: "no matching user", Script: func(f *instagramfake.Server) { f.Unknown("u") }, Msg: channels.Message{To: "u", Text: "x"}, Kind: channels.NotReachable, Code: "100/2018001"},
		{Name: "http 502", Script: func(f *instagramfake.Server) { f.FailNext(502, 0, "") }, Msg: channels.Message{To: "t", Text: "x"}, Kind: channels.Transient, Code: "502"},
		{Name: "Messenger-only tag", Msg: channels.Message{To: "t", Text: "x", Tag: "POST_PURCHASE_UPDATE"}, Kind: channels.Invalid, Code: "nudge_limits"},
		{Name: "text over 1000 bytes", Msg: channels.Message{To: "t", Text: long}, Kind: channels.Invalid, Code: "nudge_limits"},
	})
}

// The adapter's byte limit is the fake's: 1000 bytes of Cyrillic pass both.
func TestTextAtTheByteLimit(t *testing.T) {
	s := newSetup(t)
	channeltest.Send(t, s.Client, channels.Message{To: "t", Text: strings.Repeat("ж", 500)})
}

// A rate limit is retried once and sent once, whether Graph answers it with
// HTTP 400 or inside an HTTP 200 (a refusal, not a sent message without id).
func TestSendRateLimitedThenSentNoDuplicate(t *testing.T) {
	for name, refuse := range map[string]func(f *instagramfake.Server){
		"http 400": func(f *instagramfake.Server) {
			f.FailNext(613, 0, "(#613) Calls to this api have exceeded the rate limit.")
		},
		"inside http 200": (*instagramfake.Server).RateLimitedIn200,
	} {
		t.Run(name, func(t *testing.T) {
			s := newSetup(t)
			refuse(s.Fake)
			channeltest.RateLimitedThenSent(t, s.Client, channels.Message{To: "igsid2", Text: "Напоминание"}, "613", 0, s.Fake.Accepted)
		})
	}
}

func TestInboundThroughFake(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	s.Fake.SetPlan("ig9", instagramfake.Plan{Delivered: time.Second, Read: time.Minute})
	res := channeltest.Send(t, s.Client, channels.Message{To: "ig9", Text: "Меню"})
	s.Timers.Run()
	steps := []func() error{
		func() error { return s.Fake.OpenLink(ctx, "ig10", "GF-7K2Q", true) },
		func() error { return s.Fake.OpenLink(ctx, "ig11", "GF-AAAA", false) },
		func() error { _, err := s.Fake.QuickReply(ctx, "ig9", "Нет", "no"); return err },
		func() error {
			_, err := s.Fake.StoryReply(ctx, "ig9", "вкусно", "https://lookaside.example/story1")
			return err
		},
		func() error {
			_, err := s.Fake.StoryMention(ctx, "ig12", "https://lookaside.example/story2")
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if errs := s.Fake.WebhookErrors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	type got struct {
		typ                        channels.EventType
		from, code, pl, pmid, text string
		story                      string
	}
	want := []got{
		{typ: channels.EventRead, from: "ig9", pmid: res.ProviderID}, // no delivery receipts on Instagram
		{typ: channels.EventStart, from: "ig10", code: "GF-7K2Q"},    // the icebreaker only opened the thread
		{typ: channels.EventStart, from: "ig11", code: "GF-AAAA"},
		{typ: channels.EventButton, from: "ig9", pl: "no", text: "Нет"},
		{typ: channels.EventText, from: "ig9", text: "вкусно", story: "reply https://lookaside.example/story1"},
		{typ: channels.EventText, from: "ig12", story: "mention https://lookaside.example/story2"},
	}
	evs := s.Sink.Events()
	channeltest.WantEvents(t, evs, want, func(e channels.Event) got {
		g := got{e.Type, e.From, e.Code, e.Payload, e.ProviderMessageID, e.Text, ""}
		for _, a := range e.Attachments {
			if a.Kind == channels.Story {
				g.story = a.Name + " " + a.URL
			}
		}
		return g
	})
	for i, e := range evs {
		if e.Channel != channels.Instagram || e.Account != "ig1" {
			t.Errorf("event %d: %s/%s, want instagram/ig1", i, e.Channel, e.Account)
		}
	}
}

func TestWebhookRefusesBadSignaturesAndAnswersHandshake(t *testing.T) {
	s := newSetup(t)
	channeltest.WantSignedOnly(t, s.Hook.URL, meta.SignatureHeader, channeltest.Testdata(t, "text.json"), s.Cfg.AppSecret, meta.Sign)
	if evs, calls := s.Sink.Got(); calls != 1 || len(evs) != 1 || evs[0].Channel != channels.Instagram {
		t.Fatalf("sink: %d calls, %+v", calls, evs)
	}
	resp, err := http.Get(s.Hook.URL + "?hub.mode=subscribe&hub.verify_token=v&hub.challenge=1158201444")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handshake %d", resp.StatusCode)
	}
}

func TestParseFixtures(t *testing.T) {
	type want struct {
		typ                       channels.EventType
		from, text, payload, code string
		pmid, providerEv          string
		attachments               int
	}
	const who = "1254459154682919"
	for _, tc := range []struct {
		file string
		want []want
	}{
		{"text.json", []want{{channels.EventText, who, "Когда доставка? / When is delivery?", "", "", "", "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNzU2MTg0NTg3NjQ1NQZDZD", 0}}},
		{"quick_reply.json", []want{{channels.EventButton, who, "Нет", "like_no", "", "", "aWdfQR1", 0}}},
		{"story_reply.json", []want{{channels.EventText, who, "выглядит вкусно", "", "", "", "aWdfSTR1", 1}}},
		{"story_mention.json", []want{{channels.EventText, who, "", "", "", "", "aWdfSTM1", 1}}},
		{"postback_ref.json", []want{{channels.EventStart, "1254459154682920", "", "", "GF-7K2Q", "", "aWdfPB1:ref", 0}}},
		{"referral.json", []want{{channels.EventStart, "1254459154682921", "", "", "GF-9ZZ1", "", "referral:1254459154682921:1732190050000", 0}}},
		{"seen.json", []want{{channels.EventRead, who, "", "", "", "aWdfOUT1", "read:" + who + ":aWdfOUT1", 0}}},
		{"skipped.json", nil}, // echo, deletion, edit, reaction
	} {
		t.Run(tc.file, func(t *testing.T) {
			evs, _ := channeltest.Parsed(t, tc.file, func(body []byte) ([]channels.Event, error) { return instagram.Parse(body, "ig1") })
			channeltest.WantEvents(t, evs, tc.want, func(e channels.Event) want {
				return want{e.Type, e.From, e.Text, e.Payload, e.Code, e.ProviderMessageID, e.ProviderEventID, len(e.Attachments)}
			})
		})
	}
	var oe *meta.ErrObject
	if _, err := instagram.Parse([]byte(`{"object":"page","entry":[]}`), ""); !errors.As(err, &oe) || oe.Got != "page" {
		t.Errorf("page body: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	fixtures := []string{"text.json", "quick_reply.json", "story_reply.json", "story_mention.json", "postback_ref.json", "referral.json", "seen.json", "skipped.json"}
	channeltest.FuzzParse(f, fixtures, func(body []byte) ([]channels.Event, error) { return instagram.Parse(body, "ig") },
		func(e channels.Event) bool {
			return e.Type == "" || e.From == "" || e.ProviderEventID == "" || e.Channel != channels.Instagram
		})
}
