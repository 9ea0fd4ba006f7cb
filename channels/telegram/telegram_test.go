package telegram_test

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
)

const secret = "s3cr3t_Token-1"

func setup(t testing.TB) (*telegramfake.Server, *telegram.Client, telegram.Config) {
	t.Helper()
	fake := telegramfake.New()
	t.Cleanup(fake.Close)
	cfg := telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: fake.URL}, WebhookSecret: secret}
	return fake, telegram.New(cfg, nil), cfg
}

func TestSendWithButtons(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	res := channeltest.Send(t, c, channels.Message{
		IdempotencyKey: "run1:ask:0", To: "123456789", Format: channels.HTML,
		Text:    "<b>Понравилась еда?</b> Did you like the food?",
		Buttons: []channels.Button{{ID: "like_yes", Text: "Да 👍"}, {ID: "like_no", Text: "Нет"}, {Text: "Menu", URL: "https://growfood.example/menu"}},
	})
	sent := fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	m := sent[0]
	if res.ProviderID != "123456789:1" {
		t.Errorf("ProviderID = %q", res.ProviderID)
	}
	if m.Method != "sendMessage" || m.Encoding != "json" || m.ParseMode != "HTML" || m.ChatID != 123456789 {
		t.Errorf("sent %+v", m)
	}
	want := [][]telegramfake.Button{{{Text: "Да 👍", CallbackData: "like_yes"}}, {{Text: "Нет", CallbackData: "like_no"}}, {{Text: "Menu", URL: "https://growfood.example/menu"}}}
	if len(m.Keyboard) != len(want) {
		t.Fatalf("keyboard %+v", m.Keyboard)
	}
	for i := range want {
		if m.Keyboard[i][0] != want[i][0] {
			t.Errorf("row %d = %+v, want %+v", i, m.Keyboard[i][0], want[i][0])
		}
	}
}

func TestSendPhoto(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	channeltest.Send(t, c, channels.Message{To: "42", Text: "Меню недели / menu of the week", ImageURL: "https://cdn.example/menu.jpg", Buttons: []channels.Button{{ID: "order", Text: "Заказать"}}})
	m := fake.Sent()[0]
	if m.Method != "sendPhoto" || m.Photo != "https://cdn.example/menu.jpg" || m.Text != "Меню недели / menu of the week" || len(m.Keyboard) != 1 {
		t.Errorf("sent %+v", m)
	}
}

func TestSendRejectsLocally(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	for name, m := range map[string]channels.Message{
		"long callback": {To: "1", Text: "x", Buttons: []channels.Button{{ID: strings.Repeat("я", 33), Text: "x"}}},
		"no text":       {To: "1"},
		"too long":      {To: "1", Text: strings.Repeat("a", 4097)},
		"long caption":  {To: "1", Text: strings.Repeat("a", 1025), ImageURL: "https://x.example/a.jpg"},
		"no chat":       {Text: "x"},
	} {
		_, err := c.Send(context.Background(), m)
		if k := channels.KindOf(err); k != channels.Invalid {
			t.Errorf("%s: kind %s (%v), want invalid", name, k, err)
		}
	}
	if n := fake.Calls("sendMessage") + fake.Calls("sendPhoto"); n != 0 {
		t.Errorf("%d requests reached the fake", n)
	}
}

func TestRateLimitedThenSuccessNoDuplicate(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	fake.FailNext(555, telegramfake.TooManyRequests(7))
	m := channels.Message{IdempotencyKey: "k1", To: "555", Text: "Напоминание о продлении / renewal reminder"}
	channeltest.RateLimitedThenSent(t, c, m, "429", 7*time.Second, func() int { return len(fake.Sent()) })
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    telegramfake.Failure
		want channels.ErrorKind
	}{
		{"blocked", telegramfake.Blocked, channels.Blocked},
		{"user_is_blocked", telegramfake.UserIsBlocked, channels.Blocked},
		{"deactivated", telegramfake.Deactivated, channels.NotReachable},
		{"cant initiate", telegramfake.CantInitiate, channels.NotReachable},
		{"chat not found", telegramfake.ChatNotFound, channels.NotReachable},
		{"bad gateway", telegramfake.ServerError, channels.Transient},
		{"conflict", telegramfake.Failure{Code: 409, Description: "Conflict: terminated by other getUpdates request"}, channels.Invalid},
		{"bad request", telegramfake.Failure{Code: 400, Description: "Bad Request: message is too long"}, channels.Invalid},
	}
	fake, c, _ := setup(t)
	for i, tc := range cases {
		chat := int64(1000 + i)
		fake.SetChat(chat, tc.f)
		_, err := c.Send(context.Background(), channels.Message{To: itoa(chat), Text: "hi"})
		if k := channels.KindOf(err); k != tc.want {
			t.Errorf("%s: kind %s (%v), want %s", tc.name, k, err, tc.want)
		}
	}
	bad := telegram.New(telegram.Config{Bot: channels.Bot{Token: "1:" + strings.Repeat("x", 35), APIURL: fake.URL}}, nil)
	if _, err := bad.Send(context.Background(), channels.Message{To: "1", Text: "x"}); channels.KindOf(err) != channels.Invalid {
		t.Errorf("wrong token: %v", err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	down := telegram.New(telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: dead.URL}}, nil)
	_, err := down.Send(context.Background(), channels.Message{To: "1", Text: "x"})
	if channels.KindOf(err) != channels.Transient {
		t.Errorf("server down: %v", err)
	}
	if strings.Contains(err.Error(), telegramfake.Token) {
		t.Errorf("error leaks the token: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The fake accepts every encoding real clients use and validates like the Bot API.
func TestFakeEncodingsAndLimits(t *testing.T) {
	t.Parallel()
	fake, _, _ := setup(t)
	base := fake.URL + "/bot" + telegramfake.Token
	post := func(method, ct string, body []byte) int {
		t.Helper()
		resp, err := http.Post(base+"/"+method, ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	kb := `{"inline_keyboard":[[{"text":"Yes","callback_data":"yes"}]]}`
	form := url.Values{"chat_id": {"77"}, "text": {"form hello"}, "reply_markup": {kb}}
	if st := post("sendmessage", "application/x-www-form-urlencoded", []byte(form.Encode())); st != 200 {
		t.Errorf("form: %d", st)
	}
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	_ = mw.WriteField("chat_id", "77")
	_ = mw.WriteField("caption", "multipart photo")
	_ = mw.WriteField("reply_markup", kb)
	fw, _ := mw.CreateFormFile("photo", "menu.jpg")
	_, _ = fw.Write([]byte("\xff\xd8\xff\xe0 jpeg"))
	mw.Close()
	if st := post("sendPhoto", mw.FormDataContentType(), mb.Bytes()); st != 200 {
		t.Errorf("multipart: %d", st)
	}
	sent := fake.SentTo(77)
	if len(sent) != 2 || sent[0].Encoding != "form" || sent[1].Encoding != "multipart" || sent[1].Photo != "upload:menu.jpg" || sent[0].Keyboard[0][0].CallbackData != "yes" {
		t.Errorf("recorded %+v", sent)
	}
	for name, body := range map[string]string{
		"no text":        `{"chat_id":1}`,
		"no chat":        `{"text":"x"}`,
		"long data":      `{"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":"` + strings.Repeat("d", 65) + `"}]]}}`,
		"text button":    `{"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a"}]]}}`,
		"two kinds":      `{"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","url":"https://a.example","callback_data":"b"}]]}}`,
		"too long":       `{"chat_id":1,"text":"` + strings.Repeat("ж", 4097) + `"}`,
		"bad html":       `{"chat_id":1,"text":"<b>open","parse_mode":"HTML"}`,
		"bad int":        `{"chat_id":1,"text":"x","message_thread_id":"abc"}`,
		"non-json":       `chat_id=1`,
		"html too long":  `{"chat_id":1,"parse_mode":"HTML","text":"<b>` + strings.Repeat("a", 4097) + `</b>"}`,
		"username chat":  `{"chat_id":"@anna","text":"x"}`,
		"unknown button": `{"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","url":"javascript:alert(1)"}]]}}`,
	} {
		if st := post("sendMessage", "application/json", []byte(body)); st != 400 {
			t.Errorf("%s: status %d, want 400", name, st)
		}
	}
	if st := post("sendMessage", "application/json", []byte(`{"chat_id":1,"parse_mode":"HTML","text":"<b>`+strings.Repeat("a", 4096)+`</b> "}`)); st != 400 {
		t.Errorf("4097 visible characters: %d", st)
	}
	if st := post("sendMessage", "application/json", []byte(`{"chat_id":1,"parse_mode":"HTML","text":"<b>`+strings.Repeat("a", 4000)+`</b> &lt;ok&gt;"}`)); st != 200 {
		t.Errorf("markup does not count: %d", st)
	}
	resp, _ := http.Post(fake.URL+"/bot123:wrong/sendMessage", "application/json", strings.NewReader(`{}`))
	if resp.StatusCode != 401 {
		t.Errorf("bad token: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if st := post("sendSticker", "application/json", []byte(`{}`)); st != 404 {
		t.Errorf("unknown method: %d", st)
	}
}

func TestWebhookRejectsBadSecret(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	sink, hook := channeltest.Webhook(t, telegram.NewWebhook, cfg)
	body := fake.TextUpdate(1, "/start abc")
	for _, tc := range []struct {
		secret string
		want   int
	}{{"", 401}, {"wrong", 403}, {secret + "x", 403}} {
		st, err := fake.PostTo(context.Background(), hook.URL, tc.secret, body)
		if err != nil || st != tc.want {
			t.Errorf("secret %q: %d %v, want %d", tc.secret, st, err, tc.want)
		}
	}
	// No secret configured: nothing is accepted, even a request without the header.
	open := channeltest.Serve(t, telegram.NewWebhook(telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: fake.URL}}, sink, nil))
	if st, _ := fake.PostTo(context.Background(), open.URL, "anything", body); st != 403 {
		t.Errorf("unconfigured secret: %d", st)
	}
	if sink.Calls() != 0 {
		t.Errorf("sink called %d times", sink.Calls())
	}
}

func TestWebhookEvents(t *testing.T) {
	t.Parallel()
	fake, c, cfg := setup(t)
	cfg.Account = "growfood"
	sink, hook := channeltest.Webhook(t, telegram.NewWebhook, cfg)
	ctx := context.Background()
	if err := c.SetWebhook(ctx, telegram.WebhookOptions{URL: hook.URL, SecretToken: secret, AllowedUpdates: telegram.AllowedUpdates}); err != nil {
		t.Fatal(err)
	}
	start := fake.TextUpdate(321, "/start c_7Hq2xLmP")
	for _, body := range [][]byte{start, fake.TextUpdate(321, "Спасибо"), fake.CallbackUpdate(321, 5, "like_yes"), fake.ChatMemberUpdate(321, "kicked"), fake.ChatMemberUpdate(321, "member"), start} {
		if st, err := fake.Post(ctx, body); err != nil || st != 200 {
			t.Fatalf("post: %d %v", st, err)
		}
	}
	ev := sink.Events()
	if len(ev) != 6 {
		t.Fatalf("%d events", len(ev))
	}
	want := []channels.EventType{channels.EventStart, channels.EventText, channels.EventButton, channels.EventBlocked, channels.EventUnblocked, channels.EventStart}
	for i, e := range ev {
		if e.Type != want[i] || e.From != "321" || e.Channel != channels.Telegram || e.Account != "growfood" || e.ProviderEventID == "" {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if ev[0].Code != "c_7Hq2xLmP" || ev[1].Text != "Спасибо" || ev[2].Payload != "like_yes" || ev[0].Name != "Анна Петрова" || ev[0].Locale != "ru" {
		t.Errorf("fields: %+v", ev[:3])
	}
	if ev[0].ProviderEventID != ev[5].ProviderEventID || ev[0].ProviderEventID == ev[1].ProviderEventID {
		t.Errorf("dedupe ids: %q %q %q", ev[0].ProviderEventID, ev[1].ProviderEventID, ev[5].ProviderEventID)
	}
	if a := fake.Answers(); len(a) != 1 || a[0].CallbackQueryID == "" {
		t.Errorf("answerCallbackQuery calls: %+v", a)
	}
}

func TestWebhookSinkFailureAsksForRetry(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	sink := &channeltest.Sink{Err: errors.New("db down")}
	hook := channeltest.Serve(t, telegram.NewWebhook(cfg, sink, nil))
	st, _ := fake.PostTo(context.Background(), hook.URL, secret, fake.CallbackUpdate(1, 1, "x"))
	if st != 500 {
		t.Errorf("status %d, want 500", st)
	}
	if len(fake.Answers()) != 0 {
		t.Error("callback answered although the press was not stored")
	}
	big := append([]byte(`{"update_id":1,"message":{"text":"`), bytes.Repeat([]byte("a"), telegram.MaxWebhookBody)...)
	st, _ = fake.PostTo(context.Background(), hook.URL, secret, big)
	if st != 413 {
		t.Errorf("oversized body: %d", st)
	}
}

func TestParseUpdateFixtures(t *testing.T) {
	t.Parallel()
	var cb string // the callback query id, kept for the answer
	parse := func(body []byte) (evs []channels.Event, err error) {
		evs, cb, err = telegram.ParseUpdate("", body)
		return evs, err
	}
	const user = "123456789"
	channeltest.ParseFixtures(t, parse, []channeltest.Fixture{
		{File: "start_with_code.json", Want: channeltest.Fields{Type: channels.EventStart, From: user, Locale: "ru", Code: "c_7Hq2xLmP", EventID: "815002311"}},
		{File: "start_plain.json", Want: channeltest.Fields{Type: channels.EventStart, From: "987654321", Locale: "en", EventID: "815002312"}},
		{File: "text.json", Want: channeltest.Fields{Type: channels.EventText, From: user, Locale: "ru", Text: "Всё было очень вкусно, спасибо!", EventID: "815002313"}},
		{File: "callback_query.json", Want: channeltest.Fields{Type: channels.EventButton, From: user, Locale: "ru", Payload: "like_yes", EventID: "815002314"}},
		{File: "my_chat_member_kicked.json", Want: channeltest.Fields{Type: channels.EventBlocked, From: user, Locale: "ru", EventID: "815002315"}},
		{File: "my_chat_member_member.json", Want: channeltest.Fields{Type: channels.EventUnblocked, From: user, Locale: "ru", EventID: "815002316"}},
		{File: "photo_caption.json", Want: channeltest.Fields{Type: channels.EventText, From: user, Locale: "ru", Text: "Look at this box", EventID: "815002318"}},
		{File: "edited_message.json", Want: channeltest.Fields{}},
	}, func(f channeltest.Fixture, _ channels.Event) {
		// Only a button press carries a callback query to answer.
		if want := map[string]string{"callback_query.json": "4382bfdwdsb323b2d9"}[f.File]; cb != want {
			t.Errorf("%s: callback %q, want %q", f.File, cb, want)
		}
	})
	for _, bad := range []string{``, `[]`, `{"update_id":0}`, `{"message":{}}`, `nul`} {
		if _, _, err := telegram.ParseUpdate("", []byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for text, want := range map[string]string{"/start": "", "/start  abc ": "abc", "/start@growfood_bot xyz": "xyz", "/start@growfood_bot": ""} {
		evs, _, _ := telegram.ParseUpdate("", []byte(`{"update_id":5,"message":{"chat":{"id":1},"text":"`+text+`"}}`))
		if evs[0].Type != channels.EventStart || evs[0].Code != want {
			t.Errorf("%q: %+v", text, evs[0])
		}
	}
	evs, _, _ := telegram.ParseUpdate("", []byte(`{"update_id":5,"message":{"chat":{"id":1},"text":"/startle"}}`))
	if evs[0].Type != channels.EventText {
		t.Errorf("/startle: %+v", evs[0])
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	e := channeltest.Env(map[string]string{"NUDGE_TELEGRAM_TOKEN": telegramfake.Token, "NUDGE_TELEGRAM_WEBHOOK_SECRET": secret, "NUDGE_TELEGRAM_API_URL": "http://127.0.0.1:9/"})
	c := telegram.LoadConfig(e, "")
	if e.Err() != nil || c.Token != telegramfake.Token || c.WebhookSecret != secret || c.APIURL != "http://127.0.0.1:9" || !c.Enabled() {
		t.Errorf("%+v %v", c, e.Err())
	}
	e = channeltest.Env(map[string]string{"NUDGE_TELEGRAM_SHOP_2_TOKEN": "12:short", "NUDGE_TELEGRAM_SHOP_2_WEBHOOK_SECRET": "bad secret!"})
	c = telegram.LoadConfig(e, "shop-2")
	err := e.Err()
	if err == nil || !strings.Contains(err.Error(), "NUDGE_TELEGRAM_SHOP_2_TOKEN") || !strings.Contains(err.Error(), "NUDGE_TELEGRAM_SHOP_2_WEBHOOK_SECRET") || c.APIURL != telegram.DefaultAPIURL {
		t.Errorf("%+v %v", c, err)
	}
	e = channeltest.Env(nil)
	if c := telegram.LoadConfig(e, ""); c.Enabled() || e.Err() != nil {
		t.Errorf("no token: %+v %v", c, e.Err())
	}
}

func TestFakeFloodControl(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	fake.Now = func() time.Time { return now }
	fake.PerSecond, fake.PerChatPerSecond = 3, 1
	send := func(chat string) error {
		_, err := c.Send(context.Background(), channels.Message{To: chat, Text: "x"})
		return err
	}
	if err := send("1"); err != nil {
		t.Fatal(err)
	}
	var ce *channels.Error
	if err := send("1"); !errors.As(err, &ce) || ce.Kind != channels.RateLimited || ce.RetryAfter != time.Second {
		t.Errorf("second message to one chat in a second: %v", err)
	}
	if send("2") != nil || send("3") != nil {
		t.Error("other chats limited too early")
	}
	if err := send("4"); channels.KindOf(err) != channels.RateLimited {
		t.Errorf("4th message in a second: %v", err)
	}
	now = now.Add(time.Second)
	if err := send("1"); err != nil {
		t.Errorf("a second later: %v", err)
	}
	if n := len(fake.Sent()); n != 4 {
		t.Errorf("%d recorded, want 4", n)
	}
}

func TestFakeUsersWriteFirst(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	fake.RequireStart = true
	send := func() error {
		_, err := c.Send(context.Background(), channels.Message{To: "900", Text: "x"})
		return err
	}
	if k := channels.KindOf(send()); k != channels.NotReachable {
		t.Errorf("before /start: %s", k)
	}
	fake.TextUpdate(900, "/start")
	if err := send(); err != nil {
		t.Errorf("after /start: %v", err)
	}
	fake.ChatMemberUpdate(900, "kicked")
	if k := channels.KindOf(send()); k != channels.Blocked {
		t.Errorf("after block: %s", k)
	}
	fake.ChatMemberUpdate(900, "member")
	if err := send(); err != nil {
		t.Errorf("after unblock: %v", err)
	}
}
