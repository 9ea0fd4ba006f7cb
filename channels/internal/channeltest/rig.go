package channeltest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

// Rig is an adapter wired to its fake both ways: Client sends to Fake, and
// Fake posts its webhooks to the adapter's handler on Hook, which hands the
// events to Sink. Timers holds the receipts Fake schedules.
type Rig[F, C, Cfg any] struct {
	Fake   F
	Client C
	Cfg    Cfg
	Sink   *Sink
	Hook   *httptest.Server
	Timers *Timers

	webhook http.Handler
}

// NewRig starts the rig of fake f, which schedules its receipts with q:
// f and the hook's server close when the test ends. The hook's URL is
// known at once, for the config, but the hook serves only after Wire.
func NewRig[C, Cfg any, F interface{ Close() }](t testing.TB, q *Timers, f F) *Rig[F, C, Cfg] {
	t.Helper()
	t.Cleanup(f.Close)
	r := &Rig[F, C, Cfg]{Fake: f, Sink: &Sink{}, Timers: q}
	r.Hook = Serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.webhook.ServeHTTP(w, req) }))
	return r
}

// Wire gives the rig the adapter's config and builds its webhook handler
// and client from it.
func (r *Rig[F, C, Cfg]) Wire(cfg Cfg, newWebhook func(Cfg, channels.Sink, *slog.Logger) http.Handler, newClient func(Cfg, *http.Client) C) {
	r.Cfg, r.webhook, r.Client = cfg, newWebhook(cfg, r.Sink, nil), newClient(cfg, nil)
}
