package sms_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/sms"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
)

type setup = channeltest.Rig[*smsfake.Server, *sms.Client, sms.Config]

func newSetup(t *testing.T) *setup {
	q := &channeltest.Timers{}
	s := channeltest.NewRig[*sms.Client, sms.Config](t, q, smsfake.New(smsfake.Options{After: q.After}))
	o := s.Fake.Options()
	s.Wire(sms.Config{Account: "main", APIURL: s.Fake.URL(), AccountSID: o.AccountSID, AuthToken: o.AuthToken, From: o.From,
		StatusCallbackURL: s.Hook.URL + "/webhooks/sms/main"}, sms.NewWebhook, sms.New)
	s.Fake.SetInboundURL(s.Hook.URL + "/webhooks/sms/main")
	return s
}

func TestSendWithLinkButton(t *testing.T) {
	s := newSetup(t)
	res := channeltest.Send(t, s.Client, channels.Message{To: "+79161234567", Text: "Ваше меню на следующую неделю уже готово — загляните!",
		Correlation: "run:1/step:menu", Buttons: []channels.Button{{ID: "yes", Text: "Да"}, {Text: "Меню", URL: "https://gf.example/m"}}})
	sent := s.Fake.Sent()
	if len(sent) != 1 || sent[0].SID != res.ProviderID || !strings.HasSuffix(sent[0].Body, "\nМеню: https://gf.example/m") {
		t.Fatalf("%+v", sent)
	}
	if res.Segments != 2 || sent[0].Segments != 2 { // 80 characters with Cyrillic: UCS-2, 67 per part
		t.Errorf("segments %d / %d", res.Segments, sent[0].Segments)
	}
	if !strings.Contains(sent[0].StatusCallback, "c=run%3A1%2Fstep%3Amenu") {
		t.Errorf("callback %q", sent[0].StatusCallback)
	}
}

func TestSendRateLimitedThenSuccessNoDuplicate(t *testing.T) {
	s := newSetup(t)
	s.Fake.FailNext(http.StatusTooManyRequests, 20429, "Too Many Requests")
	channeltest.RateLimitedThenSent(t, s.Client, channels.Message{To: "+79160000001", Text: "Напоминание"}, "20429", time.Second, s.Fake.Accepted)
}

func TestSendErrors(t *testing.T) {
	channeltest.SendErrors(t, newSetup, []channeltest.SendError[*smsfake.Server]{
		{Name: "unsubscribed", Script: func(f *smsfake.Server) { f.Unsubscribe("+79160000002") }, Msg: channels.Message{To: "+79160000002", Text: "x"}, Kind: channels.Blocked, Code: "21610"},
		{Name: "landline", Script: func(f *smsfake.Server) { f.Landline("+74950000000") }, Msg: channels.Message{To: "+74950000000", Text: "x"}, Kind: channels.NotReachable, Code: "21614"},
		{Name: "invalid number", Msg: channels.Message{To: "8-916-000", Text: "x"}, Kind: channels.Invalid, Code: "21211"},
		{Name: "server error", Script: func(f *smsfake.Server) { f.FailNext(503, 0, "") }, Msg: channels.Message{To: "+79160000003", Text: "x"}, Kind: channels.Transient, Code: "503"},
	})
	s := newSetup(t)
	_, err := s.Client.Send(context.Background(), channels.Message{To: "+79160000004", Text: strings.Repeat("я", 1601)})
	if channels.KindOf(err) != channels.Invalid || s.Fake.Requests() != 0 {
		t.Fatalf("over-long body: %v, %d requests", err, s.Fake.Requests())
	}
	bad := sms.New(sms.Config{APIURL: s.Cfg.APIURL, AccountSID: s.Cfg.AccountSID, AuthToken: "wrong", From: s.Cfg.From}, nil)
	if _, err := bad.Send(context.Background(), channels.Message{To: "+79160000005", Text: "x"}); channels.KindOf(err) != channels.Invalid {
		t.Fatalf("bad credentials: %v", err)
	}
}

func TestStatusCallbacksThroughFake(t *testing.T) {
	s := newSetup(t)
	s.Fake.SetPlan("+79160000010", smsfake.Plan{Delivered: time.Minute})
	s.Fake.SetPlan("+79160000011", smsfake.Plan{Delivered: time.Minute, ErrorCode: "30003"})
	r1 := channeltest.Send(t, s.Client, channels.Message{To: "+79160000010", Text: "a", Correlation: "k1"})
	r2 := channeltest.Send(t, s.Client, channels.Message{To: "+79160000011", Text: "b", IdempotencyKey: "run:2/step:x/sms"})
	s.Timers.Run()
	if errs := s.Fake.WebhookErrors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	evs, calls := s.Sink.Got()
	if calls != 2 || len(evs) != 2 { // "sent" callbacks produce no events and do not reach the sink
		t.Fatalf("%d calls, events %+v", calls, evs)
	}
	if e := evs[0]; e.Type != channels.EventDelivered || e.ProviderMessageID != r1.ProviderID || e.Correlation != "k1" {
		t.Errorf("%+v", e)
	}
	if e := evs[1]; e.Type != channels.EventFailed || e.ProviderMessageID != r2.ProviderID || e.ErrorCode != "30003" ||
		e.ErrorKind != channels.NotReachable || e.Correlation != "run:2/step:x/sms" {
		t.Errorf("%+v", e)
	}
}

func TestInboundStopThroughFake(t *testing.T) {
	s := newSetup(t)
	ctx := context.Background()
	if _, err := s.Fake.Inbound(ctx, "+79160000020", "Когда доставка?"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fake.Inbound(ctx, "+79160000020", " stop "); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.Sink.Got()
	if len(evs) != 2 || evs[0].Type != channels.EventText || evs[0].Text != "Когда доставка?" || evs[1].Type != channels.EventOptOut || evs[1].From != "+79160000020" {
		t.Fatalf("%+v", evs)
	}
	_, err := s.Client.Send(ctx, channels.Message{To: "+79160000020", Text: "x"})
	if channels.KindOf(err) != channels.Blocked {
		t.Fatalf("send after STOP: %v", err)
	}
}

// postForm posts form to target as Twilio does, with the signature sig
// ("": none), and returns the status.
func postForm(t *testing.T, target, sig string, form url.Values) int {
	t.Helper()
	st, _ := channeltest.Post(t, target, "application/x-www-form-urlencoded", []byte(form.Encode()), map[string]string{sms.SignatureHeader: sig})
	return st
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	s := newSetup(t)
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {"+7916"}}
	target := s.Hook.URL + "/webhooks/sms/main?c=k"
	for _, tc := range []struct {
		name   string
		sig    string
		status int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"other token", sms.Sign("other", target, form), http.StatusForbidden},
		{"other url", sms.Sign(s.Cfg.AuthToken, target+"x", form), http.StatusForbidden},
		{"garbage", "!!!", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st := postForm(t, target, tc.sig, form); st != tc.status {
				t.Fatalf("%d, want %d", st, tc.status)
			}
		})
	}
	if _, calls := s.Sink.Got(); calls != 0 {
		t.Fatalf("sink called %d times", calls)
	}
}

func TestWebhookBehindProxyUsesPublicURL(t *testing.T) {
	cfg := sms.Config{Account: "main", AuthToken: "tok", WebhookURL: "https://nudge.example/webhooks/sms/main"}
	sink, srv := channeltest.Webhook(t, sms.NewWebhook, cfg)
	form := url.Values{"MessageSid": {"SM2"}, "MessageStatus": {"delivered"}, "To": {"+79160000000"}}
	for _, tc := range []struct {
		signed string
		status int
	}{
		{"https://nudge.example/webhooks/sms/main?c=run%3A9", http.StatusOK},
		{"https://nudge.example:443/webhooks/sms/main?c=run%3A9", http.StatusOK},
		{srv.URL + "/webhooks/sms/main?c=run%3A9", http.StatusForbidden}, // the internal URL is not what Twilio signed
	} {
		if st := postForm(t, srv.URL+"/webhooks/sms/main?c=run%3A9", sms.Sign("tok", tc.signed, form), form); st != tc.status {
			t.Errorf("signed for %s: %d, want %d", tc.signed, st, tc.status)
		}
	}
	evs, _ := sink.Got()
	if len(evs) != 2 || evs[0].Correlation != "run:9" {
		t.Fatalf("%+v", evs)
	}
}

func TestSignatureVector(t *testing.T) {
	// The worked example of Twilio's webhook security documentation.
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"}}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if got := sms.Sign("12345", u, params); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Fatalf("Sign = %q", got)
	}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{u, true},
		{"https://mycompany.com:443/myapp.php?foo=1&bar=2", true},  // signed without port, received with it
		{"https://mycompany.com:8443/myapp.php?foo=1&bar=2", true}, // Twilio's variant: an explicit port left out of the signature
		{"http://mycompany.com/myapp.php?foo=1&bar=2", false},
		{"https://mycompany.com/myapp.php?foo=1&bar=3", false},
	} {
		if got := sms.Verify("12345", tc.url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="); got != tc.ok {
			t.Errorf("Verify(%s) = %v", tc.url, got)
		}
	}
	// The reverse: signed with a port, checked against the URL without it.
	// Only the scheme's default port is added back.
	for signed, ok := range map[string]bool{
		"https://mycompany.com:443/myapp.php?foo=1&bar=2":  true,
		"https://mycompany.com:8443/myapp.php?foo=1&bar=2": false,
	} {
		if got := sms.Verify("12345", u, params, sms.Sign("12345", signed, params)); got != ok {
			t.Errorf("signed over %s, Verify(%s) = %v", signed, u, got)
		}
	}
	if sms.Verify("", u, params, sms.Sign("", u, params)) {
		t.Error("empty token verified")
	}
}

func TestParseFixtures(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		file                   string
		typ                    channels.EventType
		from, text, pmid, code string
		kind                   channels.ErrorKind
	}{
		{"status_delivered.form", channels.EventDelivered, "+79161234567", "", "SM4f1c2b8a0d9e4c7fa3b2c1d0e9f8a7b6", "", ""},
		{"status_undelivered.form", channels.EventFailed, "+79161234568", "", "SM9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "30003", channels.NotReachable},
		{"inbound.form", channels.EventText, "+16505551199", "Когда доставка?", "", "", ""},
		{"inbound_stop.form", channels.EventOptOut, "+16505551199", "Stop", "", "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := channeltest.Testdata(t, tc.file)
			form, err := url.ParseQuery(string(b))
			if err != nil {
				t.Fatal(err)
			}
			evs := sms.Parse(form, "", "main", now)
			if len(evs) != 1 {
				t.Fatalf("%+v", evs)
			}
			e := evs[0]
			if e.Type != tc.typ || e.From != tc.from || e.Text != tc.text || e.ProviderMessageID != tc.pmid ||
				e.ErrorCode != tc.code || e.ErrorKind != tc.kind || e.ProviderEventID == "" || !e.At.Equal(now) {
				t.Errorf("%+v", e)
			}
		})
	}
	if evs := sms.Parse(url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"sent"}}, "", "", now); len(evs) != 0 {
		t.Errorf("sent produced %+v", evs)
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int
	}{
		{"", 0},
		{strings.Repeat("a", 160), 1},
		{strings.Repeat("a", 161), 2},
		{strings.Repeat("a", 306), 2},
		{strings.Repeat("a", 307), 3},
		{strings.Repeat("€", 80), 1}, // extension table: two septets each
		{strings.Repeat("€", 81), 2},
		{strings.Repeat("я", 70), 1},
		{strings.Repeat("я", 71), 2},
		{strings.Repeat("я", 134), 2},
		{strings.Repeat("я", 135), 3},
		{"Привет 👋", 1},
	} {
		if got := sms.Segments(tc.text); got != tc.want {
			t.Errorf("Segments(%d runes of %q) = %d, want %d", len([]rune(tc.text)), []rune(tc.text)[:min(1, len([]rune(tc.text)))], got, tc.want)
		}
	}
}

func TestIsOptOut(t *testing.T) {
	for in, want := range map[string]bool{"STOP": true, "stop": true, " Unsubscribe! ": true, "quit": true, "stop it": false, "СТОП": false, "start": false} {
		if got := sms.IsOptOut(in); got != want {
			t.Errorf("IsOptOut(%q) = %v", in, got)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"NUDGE_TWILIO_ACCOUNT_SID": "AC1", "NUDGE_TWILIO_RATE": "10"}
	e := channeltest.Env(env)
	c := sms.LoadConfig(e, "")
	err := e.Err()
	if err == nil || !strings.Contains(err.Error(), "NUDGE_TWILIO_AUTH_TOKEN") || !strings.Contains(err.Error(), "NUDGE_TWILIO_FROM") {
		t.Fatalf("%v", err)
	}
	if c.Rate.PerSecond != 10 || c.APIURL != sms.DefaultAPIURL {
		t.Fatalf("%+v", c)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"status_delivered.form", "status_undelivered.form", "inbound.form", "inbound_stop.form"} {
		b := channeltest.Testdata(f, n)
		f.Add(string(b), "c")
	}
	f.Fuzz(func(t *testing.T, body, corr string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		for _, e := range sms.Parse(form, corr, "a", time.Time{}) {
			if e.Type == "" || e.ProviderEventID == "" {
				t.Fatalf("bad event %+v", e)
			}
		}
		_ = sms.Verify("tok", "https://x.example/"+corr, form, body)
	})
}

func TestWithBaseURL(t *testing.T) {
	vars := map[string]string{"NUDGE_TWILIO_ACCOUNT_SID": "AC1", "NUDGE_TWILIO_AUTH_TOKEN": "t", "NUDGE_TWILIO_FROM": "+15005550006"}
	c := sms.LoadConfig(channeltest.Env(vars), "").WithBaseURL("https://nudge.example/")
	if c.StatusCallbackURL != "https://nudge.example/webhooks/sms/main" {
		t.Errorf("derived callback %q", c.StatusCallbackURL)
	}
	vars["NUDGE_TWILIO_STATUS_CALLBACK_URL"] = "https://hooks.example/twilio"
	if c := sms.LoadConfig(channeltest.Env(vars), "").WithBaseURL("https://nudge.example"); c.StatusCallbackURL != "https://hooks.example/twilio" {
		t.Errorf("explicit callback overridden: %q", c.StatusCallbackURL)
	}
}
