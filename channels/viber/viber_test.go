package viber_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
)

func setup(t testing.TB) (*viberfake.Server, *viber.Client, viber.Config) {
	t.Helper()
	fake := viberfake.New()
	t.Cleanup(fake.Close)
	cfg := viber.Config{Bot: channels.Bot{Token: viberfake.Token, APIURL: fake.URL}, SenderName: "GrowFood"}
	return fake, viber.New(cfg, nil), cfg
}

// parse is ParseCallback without the event name, as the fixture, fuzz and
// benchmark helpers of channeltest take a parser.
func parse(body []byte) ([]channels.Event, error) {
	evs, _, err := viber.ParseCallback("", body)
	return evs, err
}

func TestSendWithButtons(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	user := viberfake.UserID(1)
	res := channeltest.Send(t, c, channels.Message{
		To: user, Text: "Понравилась еда? / Did you like the food?", Correlation: "run42:ask",
		Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}, {Text: "Меню", URL: "https://growfood.example/menu"}},
	})
	sent := fake.SentTo(user)
	if len(sent) != 1 {
		t.Fatalf("%d sent", len(sent))
	}
	m := sent[0]
	if res.ProviderID != viberfake.TokenString(m.MessageToken) || m.Type != "text" || m.SenderName != "GrowFood" {
		t.Errorf("result %+v sent %+v", res, m)
	}
	want := []viberfake.Button{{ActionType: "reply", ActionBody: "like_yes", Text: "Да"}, {ActionType: "reply", ActionBody: "like_no", Text: "Нет"}, {ActionType: "open-url", ActionBody: "https://growfood.example/menu", Text: "Меню"}}
	if len(m.Keyboard) != 3 || m.Keyboard[0] != want[0] || m.Keyboard[1] != want[1] || m.Keyboard[2] != want[2] {
		t.Errorf("keyboard %+v", m.Keyboard)
	}
	tr, ok := viber.ParseTracking(m.TrackingData)
	if !ok || tr.Correlation != "run42:ask" || strings.Join(tr.Buttons, ",") != "like_yes,like_no" {
		t.Errorf("tracking_data %q", m.TrackingData)
	}
	channeltest.Send(t, c, channels.Message{To: user, Text: "Меню недели", ImageURL: "https://cdn.example/menu.jpg"})
	if p := fake.SentTo(user)[1]; p.Type != "picture" || p.Media != "https://cdn.example/menu.jpg" || p.Text != "Меню недели" {
		t.Errorf("picture %+v", p)
	}
}

func TestRateLimitedThenSuccessNoDuplicate(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	user := viberfake.UserID(2)
	fake.FailNext(user, viber.StatusTooManyRequests)
	m := channels.Message{To: user, Text: "Напоминание / reminder"}
	channeltest.RateLimitedThenSent(t, c, m, "12", 10*time.Minute, func() int { return len(fake.SentTo(user)) })
}

func TestHundredPerHourWithoutReply(t *testing.T) {
	t.Parallel()
	fake, c, cfg := setup(t)
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	fake.Now = func() time.Time { return now }
	user := viberfake.UserID(3)
	for i := 0; i < viberfake.PerUserPerHour; i++ {
		if _, err := c.Send(context.Background(), channels.Message{To: user, Text: "x"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	_, err := c.Send(context.Background(), channels.Message{To: user, Text: "x"})
	if channels.KindOf(err) != channels.RateLimited {
		t.Fatalf("101st: %v", err)
	}
	// A reply resets the counter.
	_, hook := channeltest.Webhook(t, viber.NewWebhook, cfg)
	if st, _, _ := fake.PostTo(context.Background(), hook.URL, fake.Message(user, "ok", "")); st != 200 {
		t.Fatal(st)
	}
	if _, err := c.Send(context.Background(), channels.Message{To: user, Text: "x"}); err != nil {
		t.Errorf("after reply: %v", err)
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	for status, want := range map[int]channels.ErrorKind{
		5: channels.NotReachable, 6: channels.NotReachable, 11: channels.NotReachable,
		7: channels.Invalid, 2: channels.Invalid, 3: channels.Invalid, 4: channels.Invalid, 8: channels.Invalid, 10: channels.Invalid, 13: channels.Invalid, 15: channels.Invalid,
		12: channels.RateLimited,
	} {
		u := viberfake.UserID(100 + status)
		fake.SetReceiver(u, status)
		_, err := c.Send(context.Background(), channels.Message{To: u, Text: "x"})
		if k := channels.KindOf(err); k != want {
			t.Errorf("status %d: %s (%v), want %s", status, k, err, want)
		}
	}
	bad := viber.New(viber.Config{Bot: channels.Bot{Token: "wrong", APIURL: fake.URL}}, nil)
	if _, err := bad.Send(context.Background(), channels.Message{To: "u", Text: "x"}); channels.KindOf(err) != channels.Invalid {
		t.Errorf("bad token: %v", err)
	}
	for name, m := range map[string]channels.Message{
		"too long":     {To: "u", Text: strings.Repeat("я", 7001)},
		"long caption": {To: "u", Text: strings.Repeat("я", 513), ImageURL: "https://x.example/a.jpg"},
		"empty":        {To: "u"},
		"no receiver":  {Text: "x"},
		"many buttons": {To: "u", Text: "x", Buttons: make([]channels.Button, 25)},
	} {
		if _, err := c.Send(context.Background(), m); channels.KindOf(err) != channels.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	down := channeltest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	if _, err := viber.New(viber.Config{Bot: channels.Bot{Token: "t", APIURL: down.URL}}, nil).Send(context.Background(), channels.Message{To: "u", Text: "x"}); channels.KindOf(err) != channels.Transient {
		t.Errorf("503: %v", err)
	}
}

func TestFakeValidates(t *testing.T) {
	t.Parallel()
	fake, _, _ := setup(t)
	post := func(token, body string) int {
		code, ans := channeltest.Post(t, fake.URL+"/send_message", "", []byte(body), map[string]string{"X-Viber-Auth-Token": token})
		if code != 200 {
			t.Errorf("HTTP %d: Viber always answers 200", code)
		}
		var st struct{ Status int }
		_ = json.Unmarshal(ans, &st)
		return st.Status
	}
	okBody := `{"receiver":"u","min_api_version":1,"sender":{"name":"GrowFood"},"type":"text","text":"hi"}`
	if st := post(viberfake.Token, okBody); st != 0 {
		t.Errorf("ok body: %d", st)
	}
	for name, tc := range map[string]struct {
		token, body string
		want        int
	}{
		"no token":     {"", okBody, 2},
		"bad token":    {"x", okBody, 2},
		"no receiver":  {viberfake.Token, `{"sender":{"name":"a"},"type":"text","text":"hi"}`, 4},
		"long name":    {viberfake.Token, `{"receiver":"u","sender":{"name":"` + strings.Repeat("n", 29) + `"},"type":"text","text":"hi"}`, 3},
		"bad action":   {viberfake.Token, `{"receiver":"u","sender":{"name":"a"},"type":"text","text":"hi","keyboard":{"Type":"keyboard","Buttons":[{"ActionType":"callback","ActionBody":"x","Text":"x"}]}}`, 3},
		"empty action": {viberfake.Token, `{"receiver":"u","sender":{"name":"a"},"type":"text","text":"hi","keyboard":{"Type":"keyboard","Buttons":[{"ActionType":"reply","ActionBody":"","Text":"x"}]}}`, 3},
		"too big":      {viberfake.Token, `{"receiver":"u","sender":{"name":"a"},"type":"text","text":"` + strings.Repeat("a", 31<<10) + `"}`, 3},
		"bad json":     {viberfake.Token, `{`, 3},
	} {
		if st := post(tc.token, tc.body); st != tc.want {
			t.Errorf("%s: status %d, want %d", name, st, tc.want)
		}
	}
}

func TestWebhookRejectsBadSignature(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	sink, hook := channeltest.Webhook(t, viber.NewWebhook, cfg)
	body := fake.Subscribed(viberfake.UserID(1))
	ctx := context.Background()
	for sig, want := range map[string]int{"": 401, "zz": 403, viberfake.Sign("other-token", body): 403, viberfake.Sign(viberfake.Token, append(body, ' ')): 403} {
		if st, _, err := fake.PostSigned(ctx, hook.URL, sig, body); err != nil || st != want {
			t.Errorf("signature %q: %d %v, want %d", sig, st, err, want)
		}
	}
	if st, _, _ := fake.PostSigned(ctx, hook.URL+"?sig="+viberfake.Sign(viberfake.Token, body), "", body); st != 200 {
		t.Errorf("?sig= form: %d", st)
	}
	if sink.Calls() != 1 {
		t.Errorf("sink called %d times, want once (for the ?sig= request)", sink.Calls())
	}
	noToken := channeltest.Serve(t, viber.NewWebhook(viber.Config{}, sink, nil))
	if st, _, _ := fake.PostSigned(ctx, noToken.URL, viberfake.Sign("", body), body); st != 403 {
		t.Errorf("unconfigured token accepted: %d", st)
	}
}

func TestWebhookFlow(t *testing.T) {
	t.Parallel()
	fake, c, cfg := setup(t)
	cfg.Account = "growfood"
	sink := &channeltest.Sink{Welcome: "Привет! Hello!"}
	hook := channeltest.Serve(t, viber.NewWebhook(cfg, sink, nil))
	ctx := context.Background()
	if err := c.SetWebhook(ctx, hook.URL); err != nil {
		t.Fatal(err)
	}
	if u, ev := fake.Webhook(); u != hook.URL || len(ev) != 6 {
		t.Fatalf("webhook %q %v", u, ev)
	}
	receipts := &channeltest.Timers{}
	fake.After = receipts.After
	fake.SetPlan(viberfake.Plan{DeliveredAfter: 2 * time.Second, SeenAfter: time.Minute})
	user := viberfake.UserID(7)
	fake.SetReceiverPlan(viberfake.UserID(8), viberfake.Plan{Fail: "keyboard is not valid"})

	st, welcome, err := fake.Post(ctx, fake.ConversationStarted(user, "c_7Hq2xLmP"))
	if err != nil || st != 200 {
		t.Fatal(st, err)
	}
	var w struct {
		Receiver string `json:"receiver"`
		Type     string `json:"type"`
		Text     string `json:"text"`
		Sender   struct{ Name string }
	}
	if err := json.Unmarshal(welcome, &w); err != nil || w.Receiver != "" || w.Type != "text" || w.Text != "Привет! Hello!" || w.Sender.Name != "GrowFood" {
		t.Errorf("welcome %s", welcome)
	}
	res := channeltest.Send(t, c, channels.Message{To: user, Text: "Как вам еда?", Correlation: "run1:ask", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}}})
	res2 := channeltest.Send(t, c, channels.Message{To: viberfake.UserID(8), Text: "x"})
	receipts.Run()
	td := fake.SentTo(user)[0].TrackingData
	for _, body := range [][]byte{fake.Message(user, "like_yes", td), fake.Message(user, "Да, вкусно", td), fake.Unsubscribed(user)} {
		if st, _, err := fake.Post(ctx, body); err != nil || st != 200 {
			t.Fatal(st, err)
		}
	}
	ev := sink.Events()
	want := []channels.EventType{channels.EventStart, channels.EventDelivered, channels.EventRead, channels.EventFailed, channels.EventButton, channels.EventText, channels.EventOptOut}
	if len(ev) != len(want) {
		t.Fatalf("%d events: %+v", len(ev), ev)
	}
	for i, e := range ev {
		if e.Type != want[i] || e.Account != "growfood" || e.Channel != channels.Viber || e.ProviderEventID == "" || e.From == "" {
			t.Errorf("event %d %+v", i, e)
		}
	}
	if ev[0].Code != "c_7Hq2xLmP" || ev[1].ProviderMessageID != res.ProviderID || ev[2].ProviderMessageID != res.ProviderID ||
		ev[3].ProviderMessageID != res2.ProviderID || ev[3].ErrorMessage != "keyboard is not valid" ||
		ev[4].Payload != "like_yes" || ev[4].Correlation != "run1:ask" || ev[5].Text != "Да, вкусно" {
		t.Errorf("fields %+v", ev)
	}
	if ev[1].ProviderEventID == ev[2].ProviderEventID {
		t.Error("delivered and seen share a dedupe id")
	}
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	const user = "01234567890A="
	channeltest.ParseFixtures(t, parse, []channeltest.Fixture{
		{File: "message_text.json", Want: channeltest.Fields{Type: channels.EventText, From: user, Locale: "en", Text: "a message to the service", EventID: "message:4912661846655238145", Correlation: "tracking data"}},
		{File: "message_button.json", Want: channeltest.Fields{Type: channels.EventButton, From: user, Locale: "ru", Payload: "like_yes", EventID: "message:5741311803571729001", Correlation: "run42:ask"}},
		{File: "conversation_started.json", Want: channeltest.Fields{Type: channels.EventStart, From: user, Locale: "en", Code: "c_7Hq2xLmP", EventID: "conversation_started:4912661846655238145"}},
		{File: "subscribed.json", Want: channeltest.Fields{Type: channels.EventStart, From: user, Locale: "en", EventID: "subscribed:4912661846655238145"}},
		{File: "unsubscribed.json", Want: channeltest.Fields{Type: channels.EventOptOut, From: user, EventID: "unsubscribed:4912661846655238145"}},
		{File: "delivered.json", Want: channeltest.Fields{Type: channels.EventDelivered, From: user, MessageID: "4912661846655238145", EventID: "delivered:4912661846655238145"}},
		{File: "seen.json", Want: channeltest.Fields{Type: channels.EventRead, From: user, MessageID: "4912661846655238145", EventID: "seen:4912661846655238145"}},
		{File: "failed.json", Want: channeltest.Fields{Type: channels.EventFailed, From: user, MessageID: "4912661846655238145", EventID: "failed:4912661846655238145", Error: "failure description"}},
		{File: "webhook_probe.json", Want: channeltest.Fields{}},
	}, func(f channeltest.Fixture, e channels.Event) {
		if e.ProviderAt.IsZero() {
			t.Errorf("%s: no provider time", f.File)
		}
	})
	for _, bad := range []string{``, `{}`, `{"event":"message"}`, `{"event":"delivered","message_token":1}`, `{"event":"seen","user_id":"u"}`} {
		if _, _, err := viber.ParseCallback("", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"NUDGE_VIBER_TOKEN": viberfake.Token, "NUDGE_VIBER_SENDER_NAME": "GrowFood", "NUDGE_VIBER_RATE_LIMIT_BACKOFF": "30m", "NUDGE_VIBER_SHOP_TOKEN": "t", "NUDGE_VIBER_SHOP_SENDER_NAME": strings.Repeat("n", 29)}
	e := channeltest.Env(vars)
	c := viber.LoadConfig(e, "")
	if e.Err() != nil || c.Token != viberfake.Token || c.SenderName != "GrowFood" || c.RateLimitBackoff != 30*time.Minute || c.APIURL != viber.DefaultAPIURL {
		t.Errorf("%+v %v", c, e.Err())
	}
	viber.LoadConfig(e, "shop")
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "NUDGE_VIBER_SHOP_SENDER_NAME") {
		t.Errorf("long sender name: %v", err)
	}
}

func TestFakeSubscribersOnly(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	fake.RequireSubscribed = true
	u := viberfake.UserID(900)
	send := func() error {
		_, err := c.Send(context.Background(), channels.Message{To: u, Text: "x"})
		return err
	}
	if k := channels.KindOf(send()); k != channels.NotReachable {
		t.Errorf("before subscribing: %s", k)
	}
	fake.Subscribed(u)
	if err := send(); err != nil {
		t.Errorf("subscribed: %v", err)
	}
	fake.Unsubscribed(u)
	if k := channels.KindOf(send()); k != channels.NotReachable {
		t.Errorf("unsubscribed: %s", k)
	}
	fake.Message(u, "привет", "")
	if err := send(); err != nil {
		t.Errorf("after writing: %v", err)
	}
}
