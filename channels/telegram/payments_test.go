package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
)

// payments is a recording channels.Payments: Check refuses every payload
// but known; Paid fails while err is set.
type payments struct {
	mu     sync.Mutex
	known  string
	err    error
	checks []channels.PaymentCheck
	paid   []channels.Payment
}

func (p *payments) Check(_ context.Context, c channels.PaymentCheck) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, c)
	if c.Payload != p.known {
		return "This invoice is not known.", nil
	}
	return "", nil
}

func (p *payments) Paid(_ context.Context, pay channels.Payment) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.paid = append(p.paid, pay)
	return nil
}

func invoiceMessage() channels.Message {
	return channels.Message{IdempotencyKey: "run7:renew:0", To: "321", Text: "Продлите подписку", Buttons: []channels.Button{
		{Text: "Оплатить 990 ₽", Pay: &channels.Invoice{Payload: "nudge1.abc", Title: "Неделя ужинов", Description: "Ужины на неделю",
			Currency: "RUB", Amount: 99000, Product: "weekly-box"}},
		{Text: "Меню", URL: "https://shop.example/menu"}}}
}

func TestSendInvoice(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	cfg.PaymentProviderToken = telegramfake.ProviderToken
	c := telegram.New(cfg, nil)
	res := channeltest.Send(t, c, invoiceMessage())
	inv := fake.Invoices()
	if len(inv) != 1 || len(fake.Sent()) != 0 {
		t.Fatalf("invoices %+v, messages %d", inv, len(fake.Sent()))
	}
	got := inv[0]
	if res.ProviderID != "321:1" || got.Title != "Неделя ужинов" || got.Description != "Ужины на неделю" || got.Payload != "nudge1.abc" ||
		got.Currency != "RUB" || got.Total != 99000 || got.ProviderToken != telegramfake.ProviderToken {
		t.Errorf("invoice %+v, result %+v", got, res)
	}
	if len(got.Keyboard) != 2 || !got.Keyboard[0][0].Pay || got.Keyboard[0][0].Text != "Оплатить 990 ₽" || got.Keyboard[1][0].URL != "https://shop.example/menu" {
		t.Errorf("keyboard %+v", got.Keyboard)
	}
}

func TestSendInvoiceRefused(t *testing.T) {
	t.Parallel()
	edit := func(f func(m *channels.Message)) channels.Message { m := invoiceMessage(); f(&m); return m }
	for _, tc := range []struct {
		name, token, code, msg string
		m                      channels.Message
	}{
		{"no provider token", "", "local", "NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN", invoiceMessage()},
		{"not issued", telegramfake.ProviderToken, "local", "no payload", edit(func(m *channels.Message) { m.Buttons[0].Pay.Payload = "" })},
		{"title too long", telegramfake.ProviderToken, "local", "title", edit(func(m *channels.Message) { m.Buttons[0].Pay.Title = strings.Repeat("я", 33) })},
		{"two invoices", telegramfake.ProviderToken, "local", "second pay button", edit(func(m *channels.Message) { m.Buttons[1].Pay = m.Buttons[0].Pay })},
		// The fake refuses what Telegram refuses, past the client's own checks.
		{"wrong provider token", "1:TEST:wrong", "400", "PAYMENT_PROVIDER_INVALID", invoiceMessage()},
		{"unknown currency", telegramfake.ProviderToken, "400", "CURRENCY_INVALID", edit(func(m *channels.Message) { m.Buttons[0].Pay.Currency = "RUX" })},
		{"stars with a provider token", telegramfake.ProviderToken, "", "", edit(func(m *channels.Message) { m.Buttons[0].Pay.Currency = "XTR"; m.Buttons[0].Pay.Amount = 50 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, _, cfg := setup(t)
			cfg.PaymentProviderToken = tc.token
			_, err := telegram.New(cfg, nil).Send(context.Background(), tc.m)
			if tc.code == "" { // Stars: the client sends no token, and the fake takes it
				if err != nil || len(fake.Invoices()) != 1 || fake.Invoices()[0].ProviderToken != "" {
					t.Fatalf("stars: %v %+v", err, fake.Invoices())
				}
				return
			}
			e := channeltest.WantError(t, err, channels.Invalid, tc.code)
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not name %q", e.Message, tc.msg)
			}
			if len(fake.Invoices()) != 0 {
				t.Error("an invoice was accepted")
			}
		})
	}
}

// A bot without a payment provider sends the pay button as its link.
func TestPayButtonLinkWithoutProvider(t *testing.T) {
	t.Parallel()
	fake, c, _ := setup(t)
	m := invoiceMessage()
	m.Buttons[0].URL = "https://shop.example/renew"
	channeltest.Send(t, c, m)
	sent := fake.Sent()
	if len(fake.Invoices()) != 0 || len(sent) != 1 || sent[0].Text != "Продлите подписку" || len(sent[0].Keyboard) != 2 ||
		sent[0].Keyboard[0][0] != (telegramfake.Button{Text: "Оплатить 990 ₽", URL: "https://shop.example/renew"}) {
		t.Fatalf("sent %+v, invoices %+v", sent, fake.Invoices())
	}
	if m.Buttons[0].Pay == nil {
		t.Error("Send changed the caller's buttons")
	}
}

// TestCustomerPays: the customer pays the invoice through the fake; the
// webhook asks Payments, answers the pre-checkout (ok), and the payment
// reaches Payments with its charge ids; a redelivered payment is handed
// over again (Payments dedupes); an unknown payload is refused with the
// reason; a failing Paid asks Telegram to deliver again.
func TestCustomerPays(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	cfg.PaymentProviderToken = telegramfake.ProviderToken
	c := telegram.New(cfg, nil)
	pay := &payments{known: "nudge1.abc"}
	sink := &channeltest.Sink{}
	hook := channeltest.Serve(t, telegram.NewPaymentsWebhook(cfg, sink, nil, pay))
	fake.SetWebhook(hook.URL, secret)
	ctx := context.Background()
	res := channeltest.Send(t, c, invoiceMessage())
	_ = res
	rec, err := fake.Pay(ctx, 321, fake.Invoices()[0].MessageID)
	if err != nil || !rec.Paid || rec.Status != 200 {
		t.Fatalf("receipt %+v, %v", rec, err)
	}
	if len(pay.checks) != 1 || pay.checks[0] != (channels.PaymentCheck{Channel: channels.Telegram, From: "321", Payload: "nudge1.abc", Currency: "RUB", Amount: 99000}) {
		t.Errorf("checks %+v", pay.checks)
	}
	if len(pay.paid) != 1 {
		t.Fatalf("paid %+v", pay.paid)
	}
	p := pay.paid[0]
	if p.ChargeID != rec.ChargeID || p.ProviderChargeID != rec.ProviderChargeID || p.Amount != 99000 || p.Currency != "RUB" || p.Payload != "nudge1.abc" || p.From != "321" {
		t.Errorf("payment %+v, receipt %+v", p, rec)
	}
	if a := fake.PreCheckoutAnswers(); len(a) != 1 || !a[0].OK {
		t.Errorf("answers %+v", a)
	}
	if len(sink.Events()) != 0 {
		t.Errorf("a payment became a message event: %+v", sink.Events())
	}

	rec, err = fake.Checkout(ctx, 321, "nudge1.forged", "RUB", 100)
	if err != nil || rec.Paid || rec.Reason != "This invoice is not known." {
		t.Fatalf("unknown invoice: %+v %v", rec, err)
	}
	if a := fake.PreCheckoutAnswers(); len(a) != 2 || a[1].OK || a[1].ErrorMessage != "This invoice is not known." {
		t.Errorf("answers %+v", a)
	}

	pay.mu.Lock()
	pay.err = errors.New("db down")
	pay.mu.Unlock()
	rec, err = fake.Pay(ctx, 321, fake.Invoices()[0].MessageID)
	if err != nil || rec.Status != 500 {
		t.Errorf("failing Paid: %+v %v, want status 500", rec, err)
	}
}

// TestPreCheckoutWithoutPayments: a bot without the engine's payments
// still answers, refusing, so the customer is not left waiting.
func TestPreCheckoutWithoutPayments(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	_, hook := channeltest.Webhook(t, telegram.NewWebhook, cfg)
	fake.SetWebhook(hook.URL, secret)
	rec, err := fake.Checkout(context.Background(), 5, "nudge1.x", "RUB", 100)
	if err != nil || rec.Paid || rec.Reason != telegram.RefuseUnavailable {
		t.Fatalf("%+v %v", rec, err)
	}
}

func TestParsePaymentFixtures(t *testing.T) {
	t.Parallel()
	check, id, paid, err := telegram.ParsePayment("main", channeltest.Testdata(t, "pre_checkout_query.json"))
	if err != nil || paid != nil || id != "1048753651287403611" || check == nil ||
		*check != (channels.PaymentCheck{Channel: channels.Telegram, Account: "main", From: "123456789", Payload: "nudge1.c2VjcmV0LXBheWxvYWQtMDAwMDAwMDA", Currency: "RUB", Amount: 99000}) {
		t.Fatalf("pre_checkout_query: %+v %q %+v %v", check, id, paid, err)
	}
	body := channeltest.Testdata(t, "successful_payment.json")
	check, _, paid, err = telegram.ParsePayment("main", body)
	if err != nil || check != nil || paid == nil || paid.ChargeID != "7012345678_123456789_1764921600" || paid.ProviderChargeID != "ch_3QaBcDeFgHiJkLmN0pQrStUv" ||
		paid.Amount != 99000 || paid.Currency != "RUB" || paid.From != "123456789" || paid.ProviderAt.Unix() != 1764921600 {
		t.Fatalf("successful_payment: %+v %v", paid, err)
	}
	if evs, _, err := telegram.ParseUpdate("main", body); err != nil || len(evs) != 0 {
		t.Errorf("the payment's service message became events: %+v %v", evs, err)
	}
	for _, f := range []string{"text.json", "callback_query.json"} {
		if c, _, p, err := telegram.ParsePayment("", channeltest.Testdata(t, f)); c != nil || p != nil || err != nil {
			t.Errorf("%s read as a payment: %+v %+v %v", f, c, p, err)
		}
	}
	for _, bad := range []string{`{"update_id":1,"pre_checkout_query":{"currency":"RUB"}}`, `{"update_id":1,"message":{"chat":{"id":1},"successful_payment":{"currency":"RUB"}}}`} {
		if _, _, _, err := telegram.ParsePayment("", []byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func FuzzParsePayment(f *testing.F) {
	f.Add([]byte(`{"update_id":1,"pre_checkout_query":{"id":"q","from":{"id":1},"currency":"RUB","total_amount":1,"invoice_payload":"p"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check, id, paid, err := telegram.ParsePayment("a", body)
		if err != nil && (check != nil || paid != nil) {
			t.Fatal("a payment with an error")
		}
		if check != nil && (paid != nil || id == "") {
			t.Fatalf("a pre-checkout without its id, or with a payment: %q %+v", id, paid)
		}
		if paid != nil && paid.ChargeID == "" {
			t.Fatal("a payment without its charge id")
		}
	})
}

// The fake's control endpoint plays the same customer over HTTP.
func TestFakePayEndpoint(t *testing.T) {
	t.Parallel()
	fake, _, cfg := setup(t)
	cfg.PaymentProviderToken = telegramfake.ProviderToken
	pay := &payments{known: "nudge1.abc"}
	hook := channeltest.Serve(t, telegram.NewPaymentsWebhook(cfg, &channeltest.Sink{}, nil, pay))
	fake.SetWebhook(hook.URL, secret)
	if _, err := telegram.New(cfg, nil).Send(context.Background(), invoiceMessage()); err != nil {
		t.Fatal(err)
	}
	st, body := channeltest.Post(t, fake.URL+telegramfake.PayPath, "application/json", []byte(`{"chat_id":321,"message_id":1}`), nil)
	var rec telegramfake.Receipt
	if err := json.Unmarshal(body, &rec); err != nil || st != 200 || !rec.Paid || rec.ChargeID == "" {
		t.Fatalf("pay: %d %s", st, body)
	}
	st, body = channeltest.Post(t, fake.URL+telegramfake.PayPath, "application/json", []byte(`{"chat_id":321,"payload":"nudge1.zzz","currency":"RUB","total_amount":5}`), nil)
	if err := json.Unmarshal(body, &rec); err != nil || st != 200 || rec.Paid || rec.Reason == "" {
		t.Fatalf("refused checkout: %d %s", st, body)
	}
	for _, bad := range []string{`{"chat_id":321,"message_id":99}`, `{"chat_id":321}`, `{"nope":1}`} {
		if st, _ := channeltest.Post(t, fake.URL+telegramfake.PayPath, "application/json", []byte(bad), nil); st != 404 && st != 400 {
			t.Errorf("%s: %d", bad, st)
		}
	}
	if len(pay.paid) != 1 {
		t.Errorf("payments %+v", pay.paid)
	}
}
