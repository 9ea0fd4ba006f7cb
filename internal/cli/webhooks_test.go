package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/sms"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// servedStack is `nudge serve` in-process: the stack built from vars, its
// HTTP server listening at base.
type servedStack struct {
	s    *stack
	base string
}

// serveStack builds the stack from vars (NUDGE_BASE_URL is set to the
// listener's address unless vars names one) and serves it.
func serveStack(t *testing.T, vars map[string]string) *servedStack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if _, ok := vars["NUDGE_BASE_URL"]; !ok {
		vars["NUDGE_BASE_URL"] = base
	}
	vars["NUDGE_DATABASE_URL"], vars["NUDGE_REDIS_URL"] = testenv.DBURL(t), testenv.Redis(t)
	a := &App{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env: &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}}
	c, err := a.loadStackConfig()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := a.startServing(t, c, vars["NUDGE_DATABASE_URL"], ln)
	return &servedStack{s: s, base: base}
}

// startServing opens the database, builds the stack from c as `nudge serve`
// does and serves its routes on ln until t ends.
func (a *App) startServing(t testing.TB, c stackConfig, dbURL string, ln net.Listener) (*stack, *sqlx.DB) {
	t.Helper()
	d, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := a.buildStack(c, d, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.server().Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return s, d
}

// The webhook `nudge channels setup` registers is the one `nudge serve`
// mounts and the settings page shows: an update Telegram delivers to the URL
// it was given is accepted and stored.
func TestChannelsSetupRegistersTheServedWebhook(t *testing.T) {
	f := newFakes(t, fakes.Options{})
	vars := f.Env()
	ss := serveStack(t, vars)
	ctx := context.Background()

	if out, err := runWith(t, vars, "channels", "setup", "telegram"); err != nil {
		t.Fatalf("setup telegram: %v\n%s", err, out)
	}
	hook, secret, _ := f.Telegram.Webhook()
	status, err := f.Telegram.PostTo(ctx, hook, secret, f.Telegram.TextUpdate(4242, "Когда привезут заказ?"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("update to the registered %s: %d %v", hook, status, err)
	}
	var stored int
	if err := ss.s.db.GetContext(ctx, &stored, `SELECT count(*) FROM inbound_events WHERE channel = 'telegram' AND sender = '4242'`); err != nil || stored != 1 {
		t.Fatalf("stored updates: %d %v", stored, err)
	}
	// The path of the bug this guards against is not served.
	if status, _ := f.Telegram.PostTo(ctx, ss.base+"/webhooks/telegram/default", secret, f.Telegram.TextUpdate(4242, "x")); status != http.StatusNotFound {
		t.Errorf("/webhooks/telegram/default: %d", status)
	}

	// Viber probes the URL while set_webhook runs: it succeeds only if served.
	if out, err := runWith(t, vars, "channels", "setup", "viber"); err != nil {
		t.Fatalf("setup viber: %v\n%s", err, out)
	}
	vhook, _ := f.Viber.Webhook()

	set, err := ss.s.settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{}
	for _, c := range set.Channels {
		shown[c.Kind] = c.Webhook
	}
	if shown[string(channels.Telegram)] != hook || shown[string(channels.Viber)] != vhook {
		t.Errorf("settings page shows %v, registered %s and %s", shown, hook, vhook)
	}
}

// Behind a reverse proxy, with only NUDGE_BASE_URL set: sends ask Twilio for
// status callbacks at the public webhook, and a callback is checked against
// the public URL Twilio signed, not the internal address it arrived at.
func TestTwilioBehindProxyUsesBaseURL(t *testing.T) {
	fake := smsfake.New(smsfake.Options{})
	t.Cleanup(fake.Close)
	o := fake.Options()
	vars := map[string]string{
		"NUDGE_BASE_URL":           "https://nudge.example:8443",
		"NUDGE_TWILIO_ACCOUNT_SID": o.AccountSID, "NUDGE_TWILIO_AUTH_TOKEN": o.AuthToken,
		"NUDGE_TWILIO_FROM": o.From, "NUDGE_TWILIO_API_URL": fake.URL(),
	}
	e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	var got []channels.Event
	sink := channels.SinkFunc(func(_ context.Context, evs []channels.Event) (channels.Ack, error) {
		got = append(got, evs...)
		return channels.Ack{}, nil
	})
	cs := loadChannels(e, config.LoadCore(e).BaseURL, sink, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	snd, ok := cs.Registry.Sender(channels.SMS)
	if !ok {
		t.Fatal("sms not configured")
	}
	ctx := context.Background()
	res, err := snd.Send(ctx, channels.Message{To: "+79160000001", Text: "Ваш заказ в пути", Correlation: "run:7"})
	if err != nil {
		t.Fatal(err)
	}
	public := "https://nudge.example:8443/webhooks/sms/main?c=run%3A7"
	if sent := fake.Sent(); len(sent) != 1 || sent[0].StatusCallback != public {
		t.Fatalf("StatusCallback: %+v", sent)
	}

	mux := server.NewMux()
	cs.Register(mux)
	internal := httptest.NewServer(mux) // where the proxy forwards to
	t.Cleanup(internal.Close)
	form := url.Values{"MessageSid": {res.ProviderID}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}, "To": {"+79160000001"}}
	for _, tc := range []struct {
		signed string
		status int
	}{
		{public, http.StatusOK},
		{internal.URL + "/webhooks/sms/main?c=run%3A7", http.StatusForbidden},
		{"https://nudge.example/webhooks/sms/main?c=run%3A7", http.StatusOK}, // Twilio's variant without the port
		{"https://nudge.example:9443/webhooks/sms/main?c=run%3A7", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, internal.URL+"/webhooks/sms/main?c=run%3A7", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(sms.SignatureHeader, sms.Sign(o.AuthToken, tc.signed, form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("signed over %s: %d, want %d", tc.signed, resp.StatusCode, tc.status)
		}
	}
	if len(got) != 2 || got[0].Type != channels.EventFailed || got[0].Correlation != "run:7" {
		t.Fatalf("events %+v", got)
	}
}
