package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/subscribers"
)

// TestRenewalPaidInChatProcess is the renewal payment as deployed: the real
// `nudge run` binary, configured only by environment (the Telegram payment
// provider token included), behind its base URL, with the provider fakes in
// this process. The goal window is a real minute: the engine runs on the
// wall clock here.
func TestRenewalPaidInChatProcess(t *testing.T) {
	testenv.SkipProcesses(t, "nudge run")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f, ln := startFakes(t, fakes.Options{})
	addr := ln.Addr().String()
	ln.Close() // the process listens there
	base := "http://" + addr
	dbURL := testenv.DBURL(t)
	env := demo.Env(f, base)
	for k, v := range map[string]string{"NUDGE_DATABASE_URL": dbURL, "NUDGE_REDIS_URL": testenv.Redis(t), "NUDGE_BASE_URL": base,
		"NUDGE_HTTP_ADDR": addr, "NUDGE_WORKER_POLL": "50ms", "NUDGE_LOG_LEVEL": "warn"} {
		env[k] = v
	}
	if env["NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN"] != telegramfake.ProviderToken {
		t.Fatal("the fakes' environment has no payment provider token")
	}
	proc := testenv.StartNudge(t, "nudge run", env, "run")
	const patience = 2 * time.Minute // bounds a broken run only
	proc.WaitFor("nudge run to serve", patience, func() bool {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	f.Telegram.SetWebhook(channels.WebhookURL(base, channels.Telegram, channels.DefaultAccount), env["NUDGE_TELEGRAM_WEBHOOK_SECRET"])

	d := testenv.Open(t, dbURL, 0)
	const chat = 742001
	t.Chdir("../..") // examples/growfood, which the demo's seed applies
	if err := demo.Seed(ctx, d, f, []demo.Person{{Ext: "pay-p", Name: "Лев", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.Telegram,
		Chat: chat, Persona: "silent", Phone: "+79990000742", Email: "pay-p@example.com"}}, time.Now, io.Discard); err != nil {
		t.Fatal(err)
	}
	file, err := campaigns.Parse("renewal-pay.yaml", []byte(strings.Replace(renewalPayCampaign, "within: 2h", "within: 1m", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := campaigns.NewStore(d, campaigns.WithLinter(channelcheck.Linter())).Apply(ctx, file); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := subscribers.NewStore(d, time.Now).AddEvents(ctx, []subscribers.Event{
		{ExternalID: "pay-p", Name: "renewal.due", OccurredAt: &now, IdempotencyKey: "renewal-p"}}); err != nil {
		t.Fatal(err)
	}
	var inv telegramfake.Invoice
	proc.WaitFor("the invoice at the Telegram fake", patience, func() bool {
		for _, i := range f.Telegram.Invoices() {
			if i.ChatID == chat {
				inv = i
				return true
			}
		}
		return false
	})
	if inv.Total != 99000 || inv.Currency != "RUB" || inv.ProviderToken != telegramfake.ProviderToken {
		t.Fatalf("invoice %+v", inv)
	}
	count := func(q string) int {
		var n int
		if err := d.GetContext(ctx, &n, q); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The goal's window starts when the run reaches it, after the send is
	// recorded: the payment must come after that.
	proc.WaitFor("the run at its goal", patience, func() bool {
		return count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'renewal-pay' AND state = 'waiting' AND step_id = 'paid'`) == 1
	})
	if rec, err := f.Telegram.Checkout(ctx, chat, payments.Payload("forged", 0), "RUB", 99000); err != nil || rec.Paid || rec.Reason != payments.RefuseUnknown {
		t.Fatalf("unknown invoice: %+v %v", rec, err)
	}
	if rec, err := f.Telegram.Pay(ctx, chat, inv.MessageID); err != nil || !rec.Paid || rec.Status != 200 {
		t.Fatalf("paying: %+v %v", rec, err)
	}
	if n := count(`SELECT count(*) FROM subscriber_events WHERE name = 'subscription.renewed' AND payload->>'currency' = 'RUB' AND (payload->>'amount')::int = 99000`); n != 1 {
		t.Fatalf("%d renewals recorded", n)
	}
	proc.WaitFor("the goal reached", patience, func() bool {
		return count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'renewal-pay' AND (context->'goal'->>'converted')::boolean`) == 1
	})
	fn, err := analytics.New(d).Funnel(ctx, "renewal-pay", "")
	if err != nil {
		t.Fatal(err)
	}
	if fn.Goal == nil || fn.Goal.TreatedReached != 1 || fn.Sent != 1 {
		t.Fatalf("funnel: sent %d, goal %+v", fn.Sent, fn.Goal)
	}
}
