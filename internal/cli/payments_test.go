package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/subscribers"
)

// renewalPayCampaign reminds of the renewal with a pay button and waits
// for the payment as its goal.
const renewalPayCampaign = `id: renewal-pay
name: Renewal paid in the chat
topic: service
trigger:
  event:
    name: renewal.due
settings:
  channels: [telegram]
steps:
  - id: remind
    send: {template: remind}
  - id: paid
    goal: {event: subscription.renewed, within: 2h}
templates:
  remind:
    default:
      ru:
        text: "Подписка заканчивается в воскресенье. Продлить на неделю?"
        buttons:
          - text: "Оплатить 990 ₽"
            url: https://shop.example/renew
            pay: {amount: "990", currency: RUB, product: weekly-box, title: "Неделя ужинов"}
`

// TestRenewalPaidInChatEndToEnd: a renewal campaign runs through the real
// worker; the Telegram fake receives an invoice (sendInvoice with the
// provider token, 990.00 RUB in kopecks, the Pay button first); a
// pre-checkout of a payload the engine never issued is refused with its
// reason; the customer pays the invoice (pre_checkout_query answered ok by
// the webhook, then successful_payment); the payment becomes the
// subscriber's subscription.renewed event with amount, currency and charge
// ids; when the goal's window ends the goal is reached and the funnel
// counts it; a second pre-checkout
// of the paid invoice is refused.
func TestRenewalPaidInChatEndToEnd(t *testing.T) {
	// The engine runs on a manual clock: the payment falls inside the goal's
	// window however slow the machine, and the window ends when the test
	// moves the clock past it.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clk := clock.NewManual(time.Date(2031, 6, 2, 8, 0, 0, 0, time.UTC))
	e := newE2EClock(t, ctx, clk, nil)
	ticking := func(what string, ok func() bool) {
		t.Helper()
		e.waitFor(what, func() bool { clk.Advance(time.Second); return ok() })
	}
	const chat = 741001
	e.seed([]demo.Person{{Ext: "pay-1", Name: "Вера", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.Telegram, Chat: chat,
		Persona: "silent", Phone: "+79990000741", Email: "pay-1@example.com"}})
	e.apply("renewal-pay", renewalPayCampaign)
	at := e.now()
	if _, err := subscribers.NewStore(e.d, e.now).AddEvents(e.ctx, []subscribers.Event{
		{ExternalID: "pay-1", Name: "renewal.due", OccurredAt: &at, IdempotencyKey: "renewal-1"}}); err != nil {
		t.Fatal(err)
	}
	var inv telegramfake.Invoice
	ticking("the invoice at the Telegram fake", func() bool {
		if _, err := e.sched.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, i := range e.f.Telegram.Invoices() {
			if i.ChatID == chat {
				inv = i
				return true
			}
		}
		return false
	})
	if inv.Title != "Неделя ужинов" || inv.Description != "Подписка заканчивается в воскресенье. Продлить на неделю?" ||
		inv.Currency != "RUB" || inv.Total != 99000 || inv.ProviderToken != telegramfake.ProviderToken ||
		!strings.HasPrefix(inv.Payload, payments.PayloadPrefix) || len(inv.Keyboard) != 1 || !inv.Keyboard[0][0].Pay {
		t.Fatalf("invoice %+v", inv)
	}
	// The send is recorded after the provider answered: the run then waits
	// at its goal, whose window starts there.
	ticking("the run at its goal", func() bool {
		return e.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'renewal-pay' AND state = 'waiting' AND step_id = 'paid'`) == 1
	})
	if n := e.count(`SELECT count(*) FROM messages m JOIN flow_runs r ON r.id = m.run_id WHERE r.campaign_id = 'renewal-pay' AND m.status = 'sent'`); n != 1 {
		t.Errorf("%d sent messages for the campaign, want 1", n)
	}

	rec, err := e.f.Telegram.Checkout(e.ctx, chat, payments.Payload("forged", 0), "RUB", 99000)
	if err != nil || rec.Paid || rec.Reason != payments.RefuseUnknown {
		t.Fatalf("unknown invoice: %+v %v", rec, err)
	}

	// The customer pays through the fakes' control API (POST /telegram/pay).
	if st, err := e.f.Do(e.ctx, channels.Telegram, "pay", fakes.Action{User: strconv.Itoa(chat)}); err != nil || st != 200 {
		t.Fatalf("paying: %d %v", st, err)
	}
	paid := e.f.Telegram.PreCheckoutAnswers()
	if len(paid) != 2 || !paid[1].OK {
		t.Fatalf("pre-checkout answers %+v", paid)
	}
	rec.ChargeID, rec.ProviderChargeID = fmt.Sprintf("%d_%d_1", telegramfake.BotID, chat), "pi_fake0000000000000001"
	var ev struct {
		Payload json.RawMessage `db:"payload"`
	}
	if err := e.d.GetContext(e.ctx, &ev, `SELECT e.payload FROM subscriber_events e JOIN subscribers s ON s.id = e.subscriber_id
		WHERE s.external_id = 'pay-1' AND e.name = 'subscription.renewed'`); err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	_ = json.Unmarshal(ev.Payload, &p)
	if p["amount"] != float64(99000) || p["currency"] != "RUB" || p["product"] != "weekly-box" || p["charge_id"] != rec.ChargeID ||
		p["provider_charge_id"] != rec.ProviderChargeID || p["campaign_id"] != "renewal-pay" {
		t.Errorf("subscription.renewed payload %v, receipt %+v", p, rec)
	}

	clk.Advance(2 * time.Hour) // the goal's window ends
	ticking("the goal reached", func() bool {
		return e.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'renewal-pay' AND (context->'goal'->>'converted')::boolean`) == 1
	})
	f, err := analytics.New(e.d).Funnel(e.ctx, "renewal-pay", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Sent != 1 || f.Goal == nil || f.Goal.Event != "subscription.renewed" || f.Goal.TreatedRuns != 1 || f.Goal.TreatedReached != 1 {
		t.Fatalf("funnel: sent %d, goal %+v", f.Sent, f.Goal)
	}

	rec, err = e.f.Telegram.Pay(e.ctx, chat, inv.MessageID)
	if err != nil || rec.Paid || rec.Reason != payments.RefusePaid {
		t.Fatalf("paying twice: %+v %v", rec, err)
	}
	if n := e.count(`SELECT count(*) FROM subscriber_events WHERE name = 'subscription.renewed'`); n != 1 {
		t.Errorf("%d renewals, want 1", n)
	}
}
