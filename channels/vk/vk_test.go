package vk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
)

func setup(t testing.TB) (*vkfake.Server, *vk.Client, vk.Config) {
	t.Helper()
	fake := vkfake.New()
	t.Cleanup(fake.Close)
	cfg := vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: fake.APIURL()}, GroupID: vkfake.GroupID, Secret: fake.Secret, Confirmation: fake.Confirmation}
	return fake, vk.New(cfg, nil), cfg
}

// verified is what the webhook makes of a Callback API body under cfg:
// Verify, then ParseCallback; a body Verify refuses is an error.
func verified(cfg vk.Config) func(body []byte) ([]channels.Event, error) {
	return func(body []byte) ([]channels.Event, error) {
		env, st := vk.Verify(cfg, body)
		if st != 0 {
			return nil, fmt.Errorf("verify: status %d", st)
		}
		evs, _, err := vk.ParseCallback("", env, body)
		return evs, err
	}
}

func TestSendWithButtons(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	res := channeltest.Send(t, c, channels.Message{
		IdempotencyKey: "run1:ask:0", To: "493756402", Text: "Понравилась еда? / Did you like the food?",
		Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}, {Text: "Меню", URL: "https://growfood.example/menu"}},
	})
	sent := fake.SentTo(493756402)
	if len(sent) != 1 {
		t.Fatalf("%d sent", len(sent))
	}
	m := sent[0]
	if res.ProviderID != strconv.FormatInt(m.MessageID, 10) || m.RandomID != int64(vk.RandomID("run1:ask:0")) || !m.Inline || len(m.Keyboard) != 3 {
		t.Errorf("result %+v sent %+v", res, m)
	}
	if b := m.Keyboard[0][0]; b.Type != "text" || b.Label != "Да" || b.Payload != `{"button":"like_yes"}` {
		t.Errorf("button 0 %+v", b)
	}
	if b := m.Keyboard[2][0]; b.Type != "open_link" || b.Link != "https://growfood.example/menu" {
		t.Errorf("button 2 %+v", b)
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	// Params alone (no upload) keeps a URL as a link in the text.
	v, err := vk.Params(channels.Message{To: "5", Text: "Меню недели", ImageURL: "https://cdn.example/menu.jpg"})
	if err != nil || v.Get("message") != "Меню недели\nhttps://cdn.example/menu.jpg" || v.Get("attachment") != "" {
		t.Errorf("params of a url image: %v %v", v, err)
	}
	channeltest.Send(t, c, channels.Message{IdempotencyKey: "b", To: "5", Text: "Меню", ImageURL: "photo-229876543_457239017"})
	s := fake.SentTo(5)
	if s[0].Attachment != "photo-229876543_457239017" || s[0].Text != "Меню" || fake.UploadServers() != 0 {
		t.Errorf("attachment %+v", s[0])
	}
}

func TestRetryIsDedupedByRandomID(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	fake.FailNext(77, 6)
	m := channels.Message{IdempotencyKey: "run7:remind:0", To: "77", Text: "Продлите подписку / renew"}
	_, err := c.Send(context.Background(), m)
	if ce := channeltest.WantError(t, err, channels.RateLimited, "6"); ce.RetryAfter != time.Second {
		t.Fatalf("first: %v", err)
	}
	r1 := channeltest.Send(t, c, m)
	// A retry after a lost answer: VK dedupes the random_id and returns the same id.
	r2 := channeltest.Send(t, c, m)
	if r1.ProviderID != r2.ProviderID {
		t.Errorf("ids %s and %s differ", r1.ProviderID, r2.ProviderID)
	}
	if n := len(fake.SentTo(77)); n != 1 {
		t.Errorf("%d messages reached the user, want 1", n)
	}
	if _, err := c.Send(context.Background(), channels.Message{IdempotencyKey: "run7:remind:1", To: "77", Text: "x"}); err != nil || len(fake.SentTo(77)) != 2 {
		t.Errorf("another key must be sent: %v", err)
	}
}

func TestRandomID(t *testing.T) {
	t.Parallel()
	seen := map[int32]string{}
	for i := 0; i < 10000; i++ {
		k := "run" + strconv.Itoa(i) + ":step:0"
		id := vk.RandomID(k)
		if id <= 0 {
			t.Fatalf("%q → %d", k, id)
		}
		if id != vk.RandomID(k) {
			t.Fatal("not deterministic")
		}
		seen[id] = k
	}
	if len(seen) < 9990 {
		t.Errorf("%d distinct ids of 10000", len(seen))
	}
	if vk.RandomID("") <= 0 {
		t.Error("empty key gives no id")
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	fake.RatePerSecond = 0
	for code, want := range map[int]channels.ErrorKind{
		900: channels.Blocked, 901: channels.NotReachable, 902: channels.NotReachable,
		6: channels.RateLimited, 9: channels.RateLimited, 29: channels.RateLimited,
		10: channels.Transient, 1: channels.Transient, 100: channels.Invalid, 914: channels.Invalid, 15: channels.Invalid,
	} {
		peer := int64(10000 + code)
		fake.SetPeer(peer, code)
		_, err := c.Send(context.Background(), channels.Message{IdempotencyKey: "k", To: strconv.FormatInt(peer, 10), Text: "x"})
		if k := channels.KindOf(err); k != want {
			t.Errorf("code %d: %s (%v), want %s", code, k, err, want)
		}
	}
	bad := vk.New(vk.Config{Bot: channels.Bot{Token: "vk1.a.wrong", APIURL: fake.APIURL()}}, nil)
	if _, err := bad.Send(context.Background(), channels.Message{To: "1", Text: "x"}); channels.KindOf(err) != channels.Invalid {
		t.Errorf("bad token: %v", err)
	}
	for name, m := range map[string]channels.Message{
		"peer":      {To: "durov", Text: "x"},
		"empty":     {To: "1"},
		"long":      {To: "1", Text: strings.Repeat("ж", 4097)},
		"label":     {To: "1", Text: "x", Buttons: []channels.Button{{ID: "a", Text: strings.Repeat("л", 41)}}},
		"7 buttons": {To: "1", Text: "x", Buttons: make([]channels.Button, 7)},
	} {
		if _, err := c.Send(context.Background(), m); channels.KindOf(err) != channels.Invalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFakeRateLimitAndValidation(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	fake.Now = func() time.Time { return now }
	var limited int
	for i := 0; i < 21; i++ {
		_, err := c.Send(context.Background(), channels.Message{IdempotencyKey: strconv.Itoa(i), To: "9", Text: "x"})
		if channels.KindOf(err) == channels.RateLimited {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("%d of 21 requests in one second limited, want 1", limited)
	}
	now = now.Add(time.Second)
	post := func(v url.Values) string {
		v.Set("access_token", vkfake.Token)
		resp, err := http.PostForm(fake.APIURL()+"/messages.send", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return b.String()
	}
	for name, tc := range map[string]struct {
		v    url.Values
		want string
	}{
		"no v":         {url.Values{"peer_id": {"1"}, "random_id": {"1"}, "message": {"x"}}, `"error_code":8`},
		"no random_id": {url.Values{"v": {"5.199"}, "peer_id": {"1"}, "message": {"x"}}, `"error_code":100`},
		"bad keyboard": {url.Values{"v": {"5.199"}, "peer_id": {"1"}, "random_id": {"2"}, "message": {"x"}, "keyboard": {`{"inline":true,"buttons":[[{"action":{"type":"text","label":"a","payload":"not json"}}]]}`}}, `"error_code":911`},
		"wide row":     {url.Values{"v": {"5.199"}, "peer_id": {"1"}, "random_id": {"3"}, "message": {"x"}, "keyboard": {`{"inline":true,"buttons":[[{"action":{"type":"open_link","label":"a","link":"https://a"}},{"action":{"type":"open_link","label":"b","link":"https://b"}},{"action":{"type":"open_link","label":"c","link":"https://c"}}]]}`}}, `"error_code":911`},
		"bad attach":   {url.Values{"v": {"5.199"}, "peer_id": {"1"}, "random_id": {"4"}, "attachment": {"https://x/y.jpg"}}, `"error_code":100`},
		"ok by query":  {url.Values{"v": {"5.199"}, "user_id": {"1"}, "random_id": {"5"}, "message": {"x"}}, `"response":`},
	} {
		if got := post(tc.v); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestCallbackRejectsBadSecret(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	sink, hook := channeltest.Webhook(t, vk.NewWebhook, cfg)
	ctx := context.Background()
	good := fake.MessageNew(1, "hi", "", "")
	for name, tc := range map[string]struct {
		body []byte
		want int
	}{
		"no secret":     {bytes.Replace(good, []byte(`,"secret":"nudgeSecret42"`), nil, 1), 401},
		"empty secret":  {bytes.Replace(good, []byte(`"secret":"nudgeSecret42"`), []byte(`"secret":""`), 1), 401},
		"wrong secret":  {bytes.Replace(good, []byte(`"secret":"nudgeSecret42"`), []byte(`"secret":"nudgeSecret43"`), 1), 403},
		"other group":   {bytes.Replace(good, []byte(`"group_id":229876543`), []byte(`"group_id":1`), 1), 403},
		"confirmation":  {bytes.Replace(fake.ConfirmationRequest(), []byte(`"secret":"nudgeSecret42"`), []byte(`"secret":"x"`), 1), 403},
		"not json":      {[]byte(`secret=nudgeSecret42`), 400},
		"no secret cfg": {good, 0},
	} {
		url := hook.URL
		if name == "no secret cfg" {
			open := channeltest.Serve(t, vk.NewWebhook(vk.Config{GroupID: vkfake.GroupID}, sink, nil))
			url, tc.want = open.URL, 403
		}
		st, body, err := fake.PostTo(ctx, url, tc.body)
		if err != nil || st != tc.want || body == "ok" {
			t.Errorf("%s: %d %q %v, want %d", name, st, body, err, tc.want)
		}
	}
	if sink.Calls() != 0 {
		t.Errorf("sink called %d times", sink.Calls())
	}
}

func TestCallbackFlow(t *testing.T) {
	t.Parallel()
	fake, c, cfg := setup(t)
	cfg.Account = "growfood"
	sink, hook := channeltest.Webhook(t, vk.NewWebhook, cfg)
	fake.SetCallback(hook.URL)
	ctx := context.Background()
	st, body, err := fake.Post(ctx, fake.ConfirmationRequest())
	if err != nil || st != 200 || body != fake.Confirmation {
		t.Fatalf("confirmation: %d %q %v", st, body, err)
	}
	receipts := &channeltest.Timers{}
	fake.After = receipts.After
	fake.SetReadPlan(30 * time.Second)
	res := channeltest.Send(t, c, channels.Message{IdempotencyKey: "r1", To: "42", Text: "Как вам еда?", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}}})
	receipts.Run()
	first := fake.MessageNew(42, "Начать", `{"command":"start"}`, "c_7Hq2xLmP")
	for _, b := range [][]byte{
		first,
		fake.MessageNew(42, "Да", `{"button":"like_yes"}`, ""),
		fake.MessageNew(42, "вкусно", "", ""),
		fake.MessageEvent(42, `{"button":"like_no"}`, 3),
		fake.MessageAllow(42, "c_code2"),
		fake.MessageDeny(42),
		fake.Event("group_join", map[string]any{"user_id": 42, "join_type": "join"}),
		first,
	} {
		st, body, err := fake.Post(ctx, b)
		if err != nil || st != 200 || body != "ok" {
			t.Fatalf("post: %d %q %v", st, body, err)
		}
	}
	ev := sink.Events()
	want := []channels.EventType{channels.EventRead, channels.EventStart, channels.EventButton, channels.EventText, channels.EventButton, channels.EventStart, channels.EventOptOut, channels.EventStart}
	if len(ev) != len(want) {
		t.Fatalf("%d events %+v", len(ev), ev)
	}
	for i, e := range ev {
		if e.Type != want[i] || e.From != "42" || e.Account != "growfood" || e.Channel != channels.VK || e.ProviderEventID == "" {
			t.Errorf("event %d %+v", i, e)
		}
	}
	if ev[0].ProviderMessageID != res.ProviderID || ev[1].Code != "c_7Hq2xLmP" || ev[2].Payload != "like_yes" || ev[3].Text != "вкусно" || ev[4].Payload != "like_no" || ev[5].Code != "c_code2" {
		t.Errorf("fields %+v", ev)
	}
	if ev[1].ProviderEventID != ev[7].ProviderEventID || ev[1].ProviderEventID == ev[2].ProviderEventID {
		t.Error("dedupe ids wrong")
	}
	if a := fake.Answers(); len(a) != 1 || a[0].UserID != 42 || a[0].PeerID != 42 || a[0].EventID == "" {
		t.Errorf("answers %+v", a)
	}
	sink.Err = errors.New("db down")
	if st, _, _ := fake.Post(ctx, fake.MessageDeny(42)); st != 500 {
		t.Errorf("sink failure: %d, want 500 so VK retries", st)
	}
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	cfg := vk.Config{GroupID: 229876543, Secret: "nudgeSecret42"}
	const user = "493756402"
	channeltest.ParseFixtures(t, verified(cfg), []channeltest.Fixture{
		{File: "message_new_text.json", Want: channeltest.Fields{Type: channels.EventText, From: user, Text: "Всё было вкусно, спасибо!", EventID: "5c1a9f4bd3b65f1e41a1d4b5e0f1b0a3c2e8d7f6", Locale: "ru"}},
		{File: "message_new_button.json", Want: channeltest.Fields{Type: channels.EventButton, From: user, Payload: "like_yes", EventID: "9a8b7c6d5e4f30211a2b3c4d5e6f708192a3b4c5", Locale: "en"}},
		{File: "message_new_ref.json", Want: channeltest.Fields{Type: channels.EventStart, From: user, Code: "c_7Hq2xLmP", EventID: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", Locale: "ru"}},
		{File: "message_new_start.json", Want: channeltest.Fields{Type: channels.EventStart, From: "493756403", EventID: "1f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c", Locale: "ru"}},
		{File: "message_event.json", Want: channeltest.Fields{Type: channels.EventButton, From: user, Payload: "like_no", EventID: "7e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b"}},
		{File: "message_allow.json", Want: channeltest.Fields{Type: channels.EventStart, From: user, Code: "c_7Hq2xLmP", EventID: "6e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b"}},
		{File: "message_deny.json", Want: channeltest.Fields{Type: channels.EventOptOut, From: user, EventID: "5e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b"}},
		{File: "message_read.json", Want: channeltest.Fields{Type: channels.EventRead, From: user, MessageID: "1210", EventID: "4e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b"}},
		{File: "message_typing_state.json", Want: channeltest.Fields{}},
	}, nil)
	body := channeltest.Testdata(t, "confirmation.json")
	if env, st := vk.Verify(cfg, body); st != 0 || env.Type != "confirmation" {
		t.Errorf("confirmation: %d %+v", st, env)
	}
	noID := []byte(`{"type":"message_deny","group_id":229876543,"object":{"user_id":5},"secret":"nudgeSecret42"}`)
	env, _ := vk.Verify(cfg, noID)
	a, _, _ := vk.ParseCallback("", env, noID)
	b, _, _ := vk.ParseCallback("", env, noID)
	if a[0].ProviderEventID == "" || a[0].ProviderEventID != b[0].ProviderEventID {
		t.Errorf("fallback dedupe id %q %q", a[0].ProviderEventID, b[0].ProviderEventID)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"NUDGE_VK_TOKEN": vkfake.Token, "NUDGE_VK_GROUP_ID": "229876543", "NUDGE_VK_SECRET": "s", "NUDGE_VK_CONFIRMATION": "c", "NUDGE_VK_SHOP_TOKEN": "t"}
	e := channeltest.Env(vars)
	c := vk.LoadConfig(e, "")
	if e.Err() != nil || c.GroupID != 229876543 || c.Secret != "s" || c.Confirmation != "c" || c.APIURL != vk.DefaultAPIURL {
		t.Errorf("%+v %v", c, e.Err())
	}
	vk.LoadConfig(e, "shop")
	err := e.Err()
	for _, name := range []string{"NUDGE_VK_SHOP_GROUP_ID", "NUDGE_VK_SHOP_SECRET", "NUDGE_VK_SHOP_CONFIRMATION"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("missing %s not reported: %v", name, err)
		}
	}
}

func TestFakeUsersAllowFirst(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	fake.RequireAllowed = true
	send := func(key string) error {
		_, err := c.Send(context.Background(), channels.Message{IdempotencyKey: key, To: "900", Text: "x"})
		return err
	}
	if k := channels.KindOf(send("a")); k != channels.NotReachable {
		t.Errorf("before allowing: %s", k)
	}
	fake.MessageAllow(900, "")
	if err := send("b"); err != nil {
		t.Errorf("allowed: %v", err)
	}
	fake.MessageDeny(900)
	if k := channels.KindOf(send("c")); k != channels.NotReachable {
		t.Errorf("denied: %s", k)
	}
	fake.MessageNew(900, "снова я", "", "")
	if err := send("d"); err != nil {
		t.Errorf("after writing: %v", err)
	}
}
