package whatsapp_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/channels/whatsapp"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
	"github.com/nudge-engine/nudge/internal/config"
)

type setup = channeltest.Rig[*whatsappfake.Server, *whatsapp.Client, whatsapp.Config]

// newSetup wires the adapter to a fake of opt, whose receipts wait in the
// rig's Timers unless opt schedules them itself.
func newSetup(t *testing.T, opt whatsappfake.Options) *setup {
	q := &channeltest.Timers{}
	if opt.After == nil {
		opt.After = q.After
	}
	s := channeltest.NewRig[*whatsapp.Client, whatsapp.Config](t, q, whatsappfake.New(opt))
	o := s.Fake.Options()
	s.Wire(whatsapp.Config{App: meta.App{APIURL: s.Fake.URL(), AppSecret: o.AppSecret, VerifyToken: "verify-me"}, Token: o.Token, PhoneNumberID: o.PhoneNumberID, WABAID: o.WABAID, Account: "main"}, whatsapp.NewWebhook, whatsapp.New)
	s.Fake.SetWebhook(s.Hook.URL)
	return s
}

func TestSendButtonsWithImage(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	res := channeltest.Send(t, s.Client, channels.Message{
		To: "+79161234567", Text: "Как вам ужин? / Did you like dinner?", ImageURL: "https://cdn.example/menu.jpg",
		Correlation: "run:1/step:ask",
		Buttons:     []channels.Button{{ID: "yes", Text: "Да 👍"}, {ID: "no", Text: "Нет"}, {Text: "Меню", URL: "https://growfood.example/menu"}},
	})
	sent := s.Fake.Sent()
	if len(sent) != 1 || sent[0].ID != res.ProviderID || sent[0].To != "79161234567" || sent[0].Type != "interactive" {
		t.Fatalf("sent %+v, result %+v", sent, res)
	}
	if sent[0].Correlation != "run:1/step:ask" {
		t.Errorf("correlation %q", sent[0].Correlation)
	}
	in := sent[0].Body["interactive"].(map[string]any)
	body := in["body"].(map[string]any)["text"].(string)
	if !strings.Contains(body, "Меню: https://growfood.example/menu") {
		t.Errorf("link button not appended to body: %q", body)
	}
	if h := in["header"].(map[string]any); h["type"] != "image" {
		t.Errorf("header %v", h)
	}
	if n := len(in["action"].(map[string]any)["buttons"].([]any)); n != 2 {
		t.Errorf("%d reply buttons", n)
	}
}

func TestSendKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  channels.Message
		typ  string
	}{
		{"text", channels.Message{To: "100", Text: "Привет"}, "text"},
		{"image", channels.Message{To: "101", Text: "Меню недели", ImageURL: "https://cdn.example/a.jpg"}, "image"},
		{"template", channels.Message{To: "102", Template: &channels.TemplateRef{Name: "renewal", Language: "ru", Params: []string{"Анна"}}, Buttons: []channels.Button{{ID: "renew", Text: "Продлить"}}}, "template"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, whatsappfake.Options{})
			channeltest.Send(t, s.Client, tc.msg)
			sent := s.Fake.Sent()
			if len(sent) != 1 || sent[0].Type != tc.typ {
				t.Fatalf("sent %+v", sent)
			}
		})
	}
}

func TestSendRateLimitedThenSuccessNoDuplicate(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	s.Fake.FailNext(130429, "Rate limit hit")
	channeltest.RateLimitedThenSent(t, s.Client, channels.Message{To: "79160000001", Text: "Напоминание о продлении"}, "130429", 0, s.Fake.Accepted)
}

func TestSendErrors(t *testing.T) {
	channeltest.SendErrors(t, func(t *testing.T) *setup { return newSetup(t, whatsappfake.Options{}) }, []channeltest.SendError[*whatsappfake.Server]{
		{Name: "blocked", Script: func(f *whatsappfake.Server) { f.Block("200") }, Msg: channels.Message{To: "200", Text: "x"}, Kind: channels.Blocked, Code: "131050"},
		{Name: "window closed", Script: func(f *whatsappfake.Server) { f.CloseWindow("201") }, Msg: channels.Message{To: "201", Text: "x"}, Kind: channels.WindowClosed, Code: "131047"},
		{Name: "token", Script: func(f *whatsappfake.Server) { f.FailNext(190, "token expired") }, Msg: channels.Message{To: "202", Text: "x"}, Kind: channels.Invalid, Code: "190"},
		{Name: "server error", Script: func(f *whatsappfake.Server) { f.FailNext(503, "") }, Msg: channels.Message{To: "203", Text: "x"}, Kind: channels.Transient, Code: "503"},
		{Name: "four buttons", Msg: channels.Message{To: "204", Text: "x", Buttons: []channels.Button{{ID: "1", Text: "1"}, {ID: "2", Text: "2"}, {ID: "3", Text: "3"}, {ID: "4", Text: "4"}}}, Kind: channels.Invalid, Code: "nudge_limits"},
		{Name: "long title", Msg: channels.Message{To: "205", Text: "x", Buttons: []channels.Button{{ID: "1", Text: "Очень длинная надпись кнопки"}}}, Kind: channels.Invalid, Code: "nudge_limits"},
	})
}

func TestTemplateAllowedOutsideWindow(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	s.Fake.CloseWindow("300")
	channeltest.Send(t, s.Client, channels.Message{To: "300", Template: &channels.TemplateRef{Name: "renewal", Language: "ru"}})
}

func TestPairRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := newSetup(t, whatsappfake.Options{Now: func() time.Time { return now }})
	m := channels.Message{To: "400", Text: "one"}
	channeltest.Send(t, s.Client, m)
	_, err := s.Client.Send(context.Background(), m)
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Kind != channels.RateLimited || ce.Code != "131056" || ce.RetryAfter != 6*time.Second {
		t.Fatalf("second send: %v", err)
	}
	now = now.Add(6 * time.Second)
	channeltest.Send(t, s.Client, m)
}

func TestStatusesThroughFake(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	s.Fake.SetPlan("500", whatsappfake.Plan{Delivered: time.Second, Read: time.Minute})
	s.Fake.Unknown("501")
	r1 := channeltest.Send(t, s.Client, channels.Message{To: "500", Text: "a", Correlation: "c1"})
	r2 := channeltest.Send(t, s.Client, channels.Message{To: "501", Text: "b"})
	s.Timers.Run()
	if errs := s.Fake.WebhookErrors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	evs, _ := s.Sink.Got()
	want := map[string]channels.EventType{r1.ProviderID + ":delivered": channels.EventDelivered, r1.ProviderID + ":read": channels.EventRead, r2.ProviderID + ":failed": channels.EventFailed}
	if len(evs) != len(want) {
		t.Fatalf("events %+v", evs)
	}
	for _, ev := range evs {
		if want[ev.ProviderEventID] != ev.Type || ev.Account != "main" {
			t.Errorf("unexpected %+v", ev)
		}
		if ev.ProviderMessageID == r1.ProviderID && ev.Correlation != "c1" {
			t.Errorf("correlation not echoed: %+v", ev)
		}
		if ev.Type == channels.EventFailed && (ev.ErrorKind != channels.NotReachable || ev.ErrorCode != "131026") {
			t.Errorf("failed status %+v", ev)
		}
	}
}

func TestInboundThroughFake(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	ctx := context.Background()
	if _, err := s.Fake.Text(ctx, "79161234567", "Анна", "Подписаться GF-7K2Q"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fake.PressButton(ctx, "79161234567", "wamid.X", "yes", "Да"); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.Sink.Got()
	if len(evs) != 2 || evs[0].Type != channels.EventText || evs[0].Text != "Подписаться GF-7K2Q" || evs[0].Name != "Анна" ||
		evs[1].Type != channels.EventButton || evs[1].Payload != "yes" || evs[1].ProviderMessageID != "wamid.X" {
		t.Fatalf("events %+v", evs)
	}
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	channeltest.WantSignedOnly(t, s.Hook.URL, meta.SignatureHeader, channeltest.Testdata(t, "text.json"), s.Cfg.AppSecret, meta.Sign,
		"sha256=zz", "sha1=abc") // not hex, SHA-1 style
	if _, calls := s.Sink.Got(); calls != 1 {
		t.Fatalf("sink called %d times, want 1 (only the good request)", calls)
	}
}

func TestWebhookSinkFailureAsksForRedelivery(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	s.Sink.Err = errors.New("db down")
	if _, err := s.Fake.Text(context.Background(), "1", "", "hi"); err == nil {
		t.Fatal("webhook answered 2xx although the sink failed")
	}
}

func TestHandshake(t *testing.T) {
	s := newSetup(t, whatsappfake.Options{})
	for _, tc := range []struct {
		query  string
		status int
		body   string
	}{
		{"hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", 200, "1158201444"},
		{"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", 403, ""},
		{"hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", 403, ""},
	} {
		resp, err := http.Get(s.Hook.URL + "?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.body != "" && b.String() != tc.body) {
			t.Errorf("%s: %d %q", tc.query, resp.StatusCode, b.String())
		}
	}
}

func TestParseFixtures(t *testing.T) {
	type want struct {
		typ                             channels.EventType
		from, text, payload, pmid, corr string
		kind                            channels.ErrorKind
		code                            string
	}
	for _, tc := range []struct {
		file string
		want []want
	}{
		{"text.json", []want{{typ: channels.EventText, from: "79161234567", text: "Подписаться GF-7K2Q"}}},
		// The prefilled opt-in message (and a caption carrying a code): starts
		// that keep the customer's text for consent to find the code in.
		{"opt_in.json", []want{
			{typ: channels.EventStart, from: "79161234567", text: "Хочу получать уведомления / Subscribe me: q3Vx0_fJ8kYpL2mZt9Rb-w"},
			{typ: channels.EventStart, from: "79161234567", text: "q3Vx0_fJ8kYpL2mZt9Rb-w"},
		}},
		{"button_reply.json", []want{{typ: channels.EventButton, from: "16505551234", text: "Да, вкусно", payload: "like_yes", pmid: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"}}},
		{"template_button.json", []want{{typ: channels.EventButton, from: "16505551234", text: "Продлить", payload: "renew_yes", pmid: "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"}}},
		{"statuses.json", []want{
			{typ: channels.EventDelivered, from: "16505551234", pmid: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", corr: "run:42/step:ask"},
			{typ: channels.EventRead, from: "16505551234", pmid: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", corr: "run:42/step:ask"},
		}},
		{"status_failed.json", []want{
			{typ: channels.EventFailed, from: "5511987654321", pmid: "wamid.HBgLNTUxMTk4NzY1NDMyMRUCABEYEjg5QkY1RkI0NDg0RTI3RjNGMwA=", kind: channels.NotReachable, code: "131026"},
			{typ: channels.EventFailed, from: "5511987654322", pmid: "wamid.HBgLNTUxMTk4NzY1NDMyMhUCABEYEjg5QkY1RkI0NDg0RTI3RjNGMwA=", corr: "run:7/step:renew", kind: channels.WindowClosed, code: "131047"},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			evs, _ := channeltest.Parsed(t, tc.file, func(body []byte) ([]channels.Event, error) { return whatsapp.Parse(body, "main") })
			channeltest.WantEvents(t, evs, tc.want, func(e channels.Event) want {
				return want{e.Type, e.From, e.Text, e.Payload, e.ProviderMessageID, e.Correlation, e.ErrorKind, e.ErrorCode}
			})
			for i, e := range evs {
				if e.ProviderEventID == "" || e.ProviderAt.IsZero() || e.Channel != channels.WhatsApp || e.Account != "main" || len(e.Raw) == 0 {
					t.Errorf("event %d incomplete: %+v", i, e)
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"NUDGE_WHATSAPP_SHOP2_TOKEN": "tok", "NUDGE_WHATSAPP_API_URL": "http://127.0.0.1:9/v21.0/",
		"NUDGE_META_APP_SECRET": "s",
	}
	e := channeltest.Env(env)
	c := whatsapp.LoadConfig(e, "shop2")
	if c.Token != "tok" || c.APIURL != "http://127.0.0.1:9/v21.0" || !c.Enabled() {
		t.Fatalf("%+v", c)
	}
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "NUDGE_WHATSAPP_SHOP2_PHONE_NUMBER_ID") {
		t.Fatalf("missing phone number id not reported: %v", err)
	}
	e2 := &config.Env{Lookup: func(string) (string, bool) { return "", false }}
	if c := whatsapp.LoadConfig(e2, ""); c.Enabled() || e2.Err() != nil || c.APIURL != meta.DefaultAPIURL {
		t.Fatalf("unconfigured account: %+v %v", c, e2.Err())
	}
}

func FuzzParse(f *testing.F) {
	fixtures := []string{"text.json", "button_reply.json", "template_button.json", "statuses.json", "status_failed.json", "media.json"}
	channeltest.FuzzParse(f, fixtures, func(body []byte) ([]channels.Event, error) { return whatsapp.Parse(body, "a") },
		func(e channels.Event) bool { return e.Type == "" || e.Channel != channels.WhatsApp })
}

// TestWebhookAttributesEachNumbersEvents: one Meta app posts every number's
// events to one callback; each change goes to the account of the number it
// names (metadata.phone_number_id), a number no account has stays with the
// webhook's own account.
func TestWebhookAttributesEachNumbersEvents(t *testing.T) {
	body := channeltest.Testdata(t, "text.json") // phone_number_id 106540352242922
	for _, tc := range []struct {
		name   string
		routes meta.Routes
		want   string
	}{
		{"another account's number", meta.Routes{"106540352242922": "brand-b", "999": "main"}, "brand-b"},
		{"an unknown number", meta.Routes{"999": "brand-b"}, "main"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := whatsapp.Config{Account: "main", App: meta.App{AppSecret: "s3cret", VerifyToken: "v"}, Routes: tc.routes}
			sink, hook := channeltest.Webhook(t, whatsapp.NewWebhook, cfg)
			if st, _ := channeltest.Post(t, hook.URL, "", body, map[string]string{meta.SignatureHeader: meta.Sign("s3cret", body)}); st != http.StatusOK {
				t.Fatalf("status %d", st)
			}
			evs, _ := sink.Got()
			if len(evs) != 1 || evs[0].Account != tc.want {
				t.Fatalf("events %+v, want account %s", evs, tc.want)
			}
		})
	}
}
