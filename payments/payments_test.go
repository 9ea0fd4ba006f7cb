package payments_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/templates"
)

// TestInvoiceLifecycle on real Postgres: Issue records the invoice of a
// pay button under a payload that is the same when the message is composed
// again; Check passes it and refuses a forged payload, another amount, an
// expired one and a paid one; Paid posts subscription.renewed once per
// charge.
func TestInvoiceLifecycle(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	s := payments.New(payments.Config{DB: d, Now: func() time.Time { return now }})
	var sub int64
	if err := d.QueryRowContext(ctx, `INSERT INTO subscribers (external_id) VALUES ('pay-1') RETURNING id`).Scan(&sub); err != nil {
		t.Fatal(err)
	}
	m := payments.Message{Key: "run9:renew:0:0", SubscriberID: sub, CampaignID: "renewal", Version: "v1", StepID: "renew", Channel: channels.Telegram}
	in := templates.Rendered{Text: "Продлите", Buttons: []channels.Button{{ID: "later", Text: "Позже"},
		{Text: "Оплатить", Pay: &channels.Invoice{Title: "Неделя", Description: "Ужины", Currency: "RUB", Amount: 99000, Product: "weekly-box", ValidFor: 72 * time.Hour}}}}
	out, err := s.Issue(ctx, m, in)
	if err != nil {
		t.Fatal(err)
	}
	payload := out.Buttons[1].Pay.Payload
	if payload != payments.Payload(m.Key, 1) || in.Buttons[1].Pay.Payload != "" || out.Buttons[0].Pay != nil {
		t.Fatalf("payload %q; the input was changed: %+v", payload, in.Buttons[1].Pay)
	}
	if again, err := s.Issue(ctx, m, in); err != nil || again.Buttons[1].Pay.Payload != payload {
		t.Fatalf("composed again: %+v %v", again.Buttons[1].Pay, err)
	}
	var n int
	if err := d.GetContext(ctx, &n, `SELECT count(*) FROM invoices`); err != nil || n != 1 {
		t.Fatalf("%d invoices, %v", n, err)
	}
	if same, _ := s.Issue(ctx, m, templates.Rendered{Text: "no buttons"}); same.Text != "no buttons" {
		t.Fatal("a message without pay buttons changed")
	}

	check := channels.PaymentCheck{Channel: channels.Telegram, From: "321", Payload: payload, Currency: "RUB", Amount: 99000}
	for _, tc := range []struct {
		name string
		edit func(c *channels.PaymentCheck)
		want string
	}{
		{"open invoice", func(*channels.PaymentCheck) {}, ""},
		{"forged payload", func(c *channels.PaymentCheck) { c.Payload = payments.Payload("someone-else", 1) }, payments.RefuseUnknown},
		{"other amount", func(c *channels.PaymentCheck) { c.Amount = 100 }, payments.RefuseMismatch},
		{"other currency", func(c *channels.PaymentCheck) { c.Currency = "USD" }, payments.RefuseMismatch},
	} {
		c := check
		tc.edit(&c)
		if got, err := s.Check(ctx, c); err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}

	pay := channels.Payment{Channel: channels.Telegram, From: "321", Payload: payload, Currency: "RUB", Amount: 99000,
		ChargeID: "7012345678_321_1", ProviderChargeID: "ch_1"}
	for range 2 { // a redelivery changes nothing
		if err := s.Paid(ctx, pay); err != nil {
			t.Fatal(err)
		}
	}
	var evs []struct {
		Name    string          `db:"name"`
		Payload json.RawMessage `db:"payload"`
		Key     string          `db:"idempotency_key"`
	}
	if err := d.SelectContext(ctx, &evs, `SELECT name, payload, idempotency_key FROM subscriber_events WHERE subscriber_id = $1`, sub); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Name != payments.RenewedEvent || evs[0].Key != "telegram:7012345678_321_1" {
		t.Fatalf("events %+v", evs)
	}
	var p map[string]any
	_ = json.Unmarshal(evs[0].Payload, &p)
	if p["amount"] != float64(99000) || p["currency"] != "RUB" || p["product"] != "weekly-box" || p["campaign_id"] != "renewal" ||
		p["charge_id"] != "7012345678_321_1" || p["provider_charge_id"] != "ch_1" {
		t.Errorf("event payload %v", p)
	}
	if got, _ := s.Check(ctx, check); got != payments.RefusePaid {
		t.Errorf("paid invoice checked: %q", got)
	}
	// A second charge of the paid invoice posts no second renewal.
	pay.ChargeID = "7012345678_321_2"
	if err := s.Paid(ctx, pay); err != nil {
		t.Fatal(err)
	}
	if err := d.GetContext(ctx, &n, `SELECT count(*) FROM subscriber_events WHERE subscriber_id = $1`, sub); err != nil || n != 1 {
		t.Errorf("%d events after a second charge", n)
	}
	// A payment of a payload that is not ours is dropped, not an error
	// (Telegram would deliver it forever).
	if err := s.Paid(ctx, channels.Payment{Channel: channels.Telegram, Payload: "nudge1.unknown", ChargeID: "x"}); err != nil {
		t.Errorf("unknown payment: %v", err)
	}

	// Another invoice, past its validity.
	m.Key = "run10:renew:0:0"
	out, err = s.Issue(ctx, m, in)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(72 * time.Hour)
	check.Payload = out.Buttons[1].Pay.Payload
	if got, _ := s.Check(ctx, check); got != payments.RefuseExpired {
		t.Errorf("expired invoice: %q", got)
	}

	// An access request lists both invoices; erasure keeps them without
	// whom they were for, and the open one can no longer be paid.
	exp, err := payments.ExportSubscriber(ctx, d, sub)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(exp, &rows); err != nil || len(rows) != 2 {
		t.Fatalf("export %s %v", exp, err)
	}
	if paid := rows[0]; paid["status"] != "paid" && rows[1]["status"] == "paid" {
		rows[0], rows[1] = rows[1], rows[0]
	}
	if rows[0]["status"] != "paid" || rows[0]["charge_id"] != "7012345678_321_1" || rows[1]["status"] != "open" {
		t.Errorf("export %s", exp)
	}
	now = now.Add(-time.Hour)
	if err := payments.EraseSubscriber(ctx, d, sub); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Check(ctx, check); got != payments.RefuseUnknown {
		t.Errorf("invoice of an erased subscriber: %q", got)
	}
	if err := d.GetContext(ctx, &n, `SELECT count(*) FROM invoices WHERE subscriber_id IS NULL`); err != nil || n != 2 {
		t.Errorf("%d invoices kept after erasure, %v", n, err)
	}
}
