package email_test

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email"
	"github.com/nudge-engine/nudge/channels/email/emailfake"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/internal/server"
)

type setup struct {
	fake   *emailfake.Server
	cfg    email.Config
	client *email.Client
	sink   *channeltest.Sink
	web    *httptest.Server // tracking routes + bounce webhook
}

func newSetup(t *testing.T, opt emailfake.Options) *setup {
	t.Helper()
	f, err := emailfake.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	sink := &channeltest.Sink{}
	mux := http.NewServeMux()
	web := channeltest.Serve(t, mux)
	cfg := email.Config{
		Account: "news", Host: f.Host(), Port: f.Port(), TLS: email.TLSNone, From: "GrowFood <news@growfood.example>",
		Username: opt.Username, Password: opt.Password, Auth: "plain", Timeout: 5 * time.Second,
		UnsubscribeMailto: "unsubscribe@growfood.example",
		TrackingURL:       web.URL, TrackingSecret: "tracking-secret", BounceToken: "bounce-token",
	}
	tmux := server.NewMux()
	email.NewTracking(cfg.TrackingSecret, sink, nil).Register(tmux)
	mux.Handle("/", tmux)
	mux.Handle("POST /webhooks/email/news", email.NewWebhook(cfg, sink, nil))
	return &setup{fake: f, cfg: cfg, client: email.New(cfg, nil), sink: sink, web: web}
}

func weekly() channels.Message {
	return channels.Message{
		IdempotencyKey: "run:42/step:menu/email", To: "anna@mail.example",
		Subject:        "Меню на неделю / Weekly menu",
		Text:           "Здравствуйте, Анна! Меню: https://growfood.example/menu",
		HTML:           `<html><body><p>Здравствуйте, Анна!</p><p><a href="https://growfood.example/menu?w=48&amp;src=mail">Меню</a> <a href="mailto:help@growfood.example">help</a> <a href="https://growfood.example/u/TOKEN">unsubscribe</a></p></body></html>`,
		UnsubscribeURL: "https://growfood.example/u/TOKEN",
		Buttons:        []channels.Button{{ID: "yes", Text: "Да"}, {Text: "Продлить", URL: "https://growfood.example/renew"}},
	}
}

func TestSendMultipartWithUnsubscribeAndTracking(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	res := channeltest.Send(t, s.client, weekly())
	msgs := s.fake.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "anna@mail.example" || msgs[0].From != "news@growfood.example" {
		t.Fatalf("%+v", msgs)
	}
	if msgs[0].Return != "HDRS" || len(msgs[0].Notify) != 1 || msgs[0].Notify[0] != "FAILURE" {
		t.Errorf("DSN envelope: RET=%q NOTIFY=%q", msgs[0].Return, msgs[0].Notify)
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Header.Get("Message-Id"); got != "<"+res.ProviderID+">" {
		t.Errorf("Message-ID %q, provider id %q", got, res.ProviderID)
	}
	if got := p.Header.Get("List-Unsubscribe"); got != "<https://growfood.example/u/TOKEN>, <mailto:unsubscribe@growfood.example?subject=unsubscribe>" {
		t.Errorf("List-Unsubscribe %q", got)
	}
	if got := p.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", got)
	}
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type %q", p.Header.Get("Content-Type"))
	}
	if !strings.Contains(p.Text, "Продлить: https://growfood.example/renew") || !strings.Contains(p.Text, "Анна") {
		t.Errorf("text part %q", p.Text)
	}
	pixel, links := emailfake.TrackingURLs(p.HTML)
	if pixel == "" || len(links) != 2 { // the menu link and the renew button; not mailto, not unsubscribe
		t.Fatalf("pixel %q links %q in %s", pixel, links, p.HTML)
	}
	if !strings.Contains(p.HTML, `href="https://growfood.example/u/TOKEN"`) || !strings.Contains(p.HTML, `href="mailto:help@growfood.example"`) {
		t.Errorf("unsubscribe or mailto link rewritten: %s", p.HTML)
	}
	u, _ := url.Parse(links[0])
	if u.Query().Get("u") != "https://growfood.example/menu?w=48&src=mail" {
		t.Errorf("click target %q", u.Query().Get("u"))
	}
}

func TestMessageIDFollowsIdempotencyKey(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	m := weekly()
	a, b := s.client.MessageID(m), s.client.MessageID(m)
	m.IdempotencyKey = "run:42/step:menu/email#2"
	c := s.client.MessageID(m)
	if a != b || a == c || !strings.HasSuffix(a, "@growfood.example") {
		t.Fatalf("%q %q %q", a, b, c)
	}
}

func TestSendErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(f *emailfake.Server)
		kind   channels.ErrorKind
		code   string
	}{
		{"unknown user", func(f *emailfake.Server) {
			f.Reject("anna@mail.example", emailfake.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "User unknown"})
		}, channels.NotReachable, "550 5.1.1"},
		{"policy", func(f *emailfake.Server) {
			f.Reject("anna@mail.example", emailfake.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "Rejected by policy"})
		}, channels.Invalid, "554 5.7.1"},
		{"greylisted", func(f *emailfake.Server) {
			f.FailNextRcpt(emailfake.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Message: "Greylisted, try again later"})
		}, channels.RateLimited, "451 4.7.1"},
		{"mailbox busy", func(f *emailfake.Server) {
			f.FailNextRcpt(emailfake.Reply{Code: 450, Enhanced: [3]int{4, 2, 1}, Message: "Mailbox busy"})
		}, channels.Transient, "450 4.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t, emailfake.Options{})
			tc.script(s.fake)
			ce := channeltest.WantRefused(t, s.client, weekly(), tc.kind, tc.code, func() int { return len(s.fake.Messages()) })
			if strings.Contains(ce.Message, "anna@mail.example") {
				t.Errorf("address in error message: %q", ce.Message)
			}
		})
	}
}

func TestTemporaryThenSuccessNoDuplicate(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	s.fake.FailNextRcpt(emailfake.Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Message: "Too many messages, slow down"})
	m := weekly()
	_, err := s.client.Send(context.Background(), m)
	if channels.KindOf(err) != channels.RateLimited {
		t.Fatalf("%v", err)
	}
	r2 := channeltest.Send(t, s.client, m)
	if msgs := s.fake.Messages(); len(msgs) != 1 || !strings.Contains(string(msgs[0].Data), r2.ProviderID) {
		t.Fatalf("%d messages", len(msgs))
	}
}

func TestAuthAndUnreachableRelay(t *testing.T) {
	s := newSetup(t, emailfake.Options{Username: "nudge", Password: "pw"})
	if _, err := s.client.Send(context.Background(), weekly()); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	bad := s.cfg
	bad.Password = "wrong"
	if _, err := email.New(bad, nil).Send(context.Background(), weekly()); channels.KindOf(err) != channels.Invalid {
		t.Fatalf("wrong password: %v", err)
	}
	down := s.cfg
	down.Port = 1
	if _, err := email.New(down, nil).Send(context.Background(), weekly()); channels.KindOf(err) != channels.Transient {
		t.Fatalf("dial failure: %v", err)
	}
}

func TestOpenAndClickTracking(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	res := channeltest.Send(t, s.client, weekly())
	msg := s.fake.Messages()[0]
	if err := emailfake.Open(context.Background(), http.DefaultClient, msg); err != nil {
		t.Fatal(err)
	}
	p, _ := msg.Parse()
	_, links := emailfake.TrackingURLs(p.HTML)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(links[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://growfood.example/menu?w=48&src=mail" {
		t.Fatalf("click: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	evs, _ := s.sink.Got()
	if len(evs) != 2 || evs[0].Type != channels.EventRead || evs[0].ProviderMessageID != res.ProviderID || evs[0].Account != "news" ||
		evs[1].Type != channels.EventRead || evs[1].Payload != "https://growfood.example/menu?w=48&src=mail" {
		t.Fatalf("%+v", evs)
	}

	// A click link pointed elsewhere is refused: no open redirect, no event.
	u, _ := url.Parse(links[0])
	q := u.Query()
	q.Set("u", "https://evil.example/")
	u.RawQuery = q.Encode()
	for _, bad := range []string{u.String(), s.web.URL + "/t/o/garbage.gif", s.web.URL + "/t/c/x.y?u=https://evil.example/"} {
		resp, err := noFollow.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
	if _, calls := s.sink.Got(); calls != 2 {
		t.Fatalf("sink called %d times", calls)
	}
}

func TestBounceWebhook(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	res := channeltest.Send(t, s.client, weekly())
	bounce := s.fake.Bounce(s.fake.Messages()[0], "anna@mail.example", "failed", "5.1.1", "550 5.1.1 User unknown")
	hook := s.web.URL + "/webhooks/email/news"
	for _, tok := range []string{"", "wrong"} {
		err := emailfake.PostBounce(context.Background(), http.DefaultClient, hook, tok, bounce)
		if err == nil {
			t.Fatalf("token %q accepted", tok)
		}
	}
	if _, calls := s.sink.Got(); calls != 0 {
		t.Fatalf("sink called %d times before a good token", calls)
	}
	if err := emailfake.PostBounce(context.Background(), http.DefaultClient, hook, "bounce-token", bounce); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.sink.Got()
	if len(evs) != 1 || evs[0].Type != channels.EventFailed || evs[0].ProviderMessageID != res.ProviderID ||
		evs[0].ErrorKind != channels.NotReachable || evs[0].ErrorCode != "5.1.1" || evs[0].From != "anna@mail.example" {
		t.Fatalf("%+v", evs)
	}
}

func TestBounceWebhookForm(t *testing.T) {
	s := newSetup(t, emailfake.Options{})
	raw := channeltest.Testdata(t, "postfix_failed.eml")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("to", "bounces@growfood.example")
	_ = mw.WriteField("email", string(raw))
	_ = mw.Close()
	st, _ := channeltest.Post(t, s.web.URL+"/webhooks/email/news?token=bounce-token", mw.FormDataContentType(), body.Bytes(), nil)
	evs, _ := s.sink.Got()
	if st != 200 || len(evs) != 1 || evs[0].ProviderMessageID != "5f2b7c0e9a1d4e3f8b6a2c1d0e9f8a7b.nudge@growfood.example" {
		t.Fatalf("%d %+v", st, evs)
	}
}

func TestParseDSNFixtures(t *testing.T) {
	for _, tc := range []struct {
		file         string
		err          error
		msgID, envID string
		typ          channels.EventType
		kind         channels.ErrorKind
		rcpt, status string
		events       int
	}{
		{file: "postfix_failed.eml", msgID: "5f2b7c0e9a1d4e3f8b6a2c1d0e9f8a7b.nudge@growfood.example", typ: channels.EventFailed,
			kind: channels.NotReachable, rcpt: "anna.smirnova@mail.example", status: "5.1.1", events: 1},
		{file: "delivered_base64.eml", msgID: "aa11bb22.nudge@growfood.example", envID: "run42-step-ask", typ: channels.EventDelivered,
			rcpt: "ivan@mail.example", status: "2.0.0", events: 1},
		{file: "delayed.eml", msgID: "delayed1.nudge@growfood.example", rcpt: "slow@mail.example", status: "4.4.1", events: 0},
		{file: "autoreply.eml", err: email.ErrNotDSN},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw := channeltest.Testdata(t, tc.file)
			d, err := email.ParseDSN(raw)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.OriginalMessageID != tc.msgID || d.OriginalEnvelopeID != tc.envID || len(d.Recipients) != 1 ||
				d.Recipients[0].FinalRecipient != tc.rcpt || d.Recipients[0].Status != tc.status {
				t.Fatalf("%+v", d)
			}
			evs := d.Events("news", time.Unix(0, 0), raw)
			if len(evs) != tc.events {
				t.Fatalf("%+v", evs)
			}
			if tc.events == 1 && (evs[0].Type != tc.typ || evs[0].ErrorKind != tc.kind || evs[0].ProviderMessageID != tc.msgID || evs[0].Correlation != tc.envID) {
				t.Fatalf("%+v", evs[0])
			}
		})
	}
	if d, _ := email.ParseDSN(channeltest.Testdata(t, "postfix_failed.eml")); !strings.Contains(d.Recipients[0].DiagnosticCode, "User unknown in virtual mailbox table") {
		t.Errorf("folded Diagnostic-Code not unfolded: %q", d.Recipients[0].DiagnosticCode)
	}
}

func TestInstrument(t *testing.T) {
	tr := &email.Tracker{BaseURL: "https://n.example", Secret: []byte("s")}
	out := tr.Instrument(`<a class="b" href='https://x.example/a?b=1&amp;c=2'>x</a><A HREF="http://y.example">y</A><a href="#top">t</a><a href="tel:+7">p</a>`, "acc", "id@x", "")
	if strings.Contains(out, "https://x.example/a") && !strings.Contains(out, "/t/c/") {
		t.Fatalf("not rewritten: %s", out)
	}
	if n := strings.Count(out, "/t/c/"); n != 2 {
		t.Errorf("%d links rewritten: %s", n, out)
	}
	if !strings.Contains(out, `href="#top"`) || !strings.Contains(out, `href="tel:+7"`) || !strings.Contains(out, "/t/o/") {
		t.Errorf("%s", out)
	}
	acc, id, err := tr.Check("c", strings.TrimPrefix(strings.Split(tr.ClickURL("acc", "id@x", "https://x.example/a?b=1&c=2"), "?")[0], "https://n.example/t/c/"), "https://x.example/a?b=1&c=2")
	if err != nil || acc != "acc" || id != "id@x" {
		t.Fatalf("%q %q %v", acc, id, err)
	}
	if _, _, err := (&email.Tracker{Secret: []byte("other")}).Check("o", "eA.eA", ""); err == nil {
		t.Fatal("forged token accepted")
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"NUDGE_SMTP_HOST": "smtp.example", "NUDGE_SMTP_TLS": "none", "NUDGE_SMTP_USER": "u", "NUDGE_BASE_URL": "https://nudge.example"}
	e := channeltest.Env(env)
	c := email.LoadConfig(e, "")
	err := e.Err()
	if err == nil || !strings.Contains(err.Error(), "NUDGE_SMTP_FROM") || !strings.Contains(err.Error(), "NUDGE_SMTP_PASSWORD") {
		t.Fatalf("%v", err)
	}
	if c.Port != 587 || c.TLS != email.TLSNone || c.TrackingURL != "https://nudge.example" || c.Tracker() != nil {
		t.Fatalf("%+v", c)
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, n := range []string{"postfix_failed.eml", "delivered_base64.eml", "delayed.eml", "autoreply.eml"} {
		b := channeltest.Testdata(f, n)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := email.ParseDSN(raw)
		if err != nil {
			if d != nil {
				t.Fatal("report with error")
			}
			return
		}
		for _, e := range d.Events("a", time.Time{}, raw) {
			if e.Type != channels.EventFailed && e.Type != channels.EventDelivered {
				t.Fatalf("%+v", e)
			}
		}
	})
}

func FuzzTrackerCheck(f *testing.F) {
	tr := &email.Tracker{BaseURL: "https://n.example", Secret: []byte("s")}
	tok := strings.TrimSuffix(strings.TrimPrefix(tr.OpenURL("news", "id@x"), "https://n.example/t/o/"), ".gif")
	f.Add("o", tok, "")
	f.Add("c", "bmV3cx9pZEB4.AAAA", "https://x.example/")
	f.Fuzz(func(t *testing.T, kind, token, target string) {
		acc, id, err := tr.Check(kind, token, target)
		if err == nil && (id == "" || strings.Contains(acc, "\x1f")) {
			t.Fatalf("%q %q", acc, id)
		}
	})
}
