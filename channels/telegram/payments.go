package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Limits of sendInvoice.
const (
	MaxInvoiceTitle       = 32
	MaxInvoiceDescription = 255
	MaxInvoicePayload     = 128 // bytes
	// Stars is Telegram's own currency: no provider token, one price.
	Stars = "XTR"
	// PreCheckoutDeadline is how long the Bot API waits for the answer to a
	// pre_checkout_query; the check and the answer share it.
	PreCheckoutDeadline = 10 * time.Second
)

// RefuseUnavailable is the customer's reason when the engine cannot check
// the invoice in time (no payments configured, the database failing).
const RefuseUnavailable = "Payments are unavailable right now. Please try again later."

// PreCheckoutQuery is a Bot API pre_checkout_query.
type PreCheckoutQuery struct {
	ID             string `json:"id"`
	From           User   `json:"from"`
	Currency       string `json:"currency"`
	TotalAmount    int64  `json:"total_amount"`
	InvoicePayload string `json:"invoice_payload"`
}

// SuccessfulPayment is a Bot API successful_payment.
type SuccessfulPayment struct {
	Currency                string `json:"currency"`
	TotalAmount             int64  `json:"total_amount"`
	InvoicePayload          string `json:"invoice_payload"`
	TelegramPaymentChargeID string `json:"telegram_payment_charge_id"`
	ProviderPaymentChargeID string `json:"provider_payment_charge_id"`
}

// LabeledPrice is one line of an invoice.
type LabeledPrice struct {
	Label  string `json:"label"`
	Amount int64  `json:"amount"`
}

// invoiceOf returns the invoice of the first pay button and its index.
func invoiceOf(bs []channels.Button) (*channels.Invoice, int) {
	for i, b := range bs {
		if b.Pay != nil {
			return b.Pay, i
		}
	}
	return nil, -1
}

// linkInstead reports whether the pay button b goes out as its link: a bot
// with no payment provider token cannot send an invoice in a fiat
// currency, and the shop's payment page serves the customer as on the
// other channels.
func (c *Client) linkInstead(inv *channels.Invoice, b channels.Button) bool {
	return inv.Currency != Stars && c.cfg.PaymentProviderToken == "" && b.URL != ""
}

// withoutInvoices is bs with every pay button a plain link.
func withoutInvoices(bs []channels.Button) []channels.Button {
	out := append([]channels.Button(nil), bs...)
	for i := range out {
		out[i].Pay = nil
	}
	return out
}

// sendInvoice sends m as an invoice: the pay button (at index at) becomes
// the keyboard's first button, the Pay button Telegram requires there, and
// the other buttons follow, one per row.
func (c *Client) sendInvoice(ctx context.Context, m channels.Message, inv *channels.Invoice, at int) (channels.Result, error) {
	invalid := func(format string, args ...any) (channels.Result, error) {
		return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "local", Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case inv.Payload == "":
		return invalid("invoice has no payload: the engine did not record it (payments not wired)")
	case len(inv.Payload) > MaxInvoicePayload:
		return invalid("invoice payload is %d bytes, Telegram allows %d", len(inv.Payload), MaxInvoicePayload)
	case utf8.RuneCountInString(inv.Title) < 1 || utf8.RuneCountInString(inv.Title) > MaxInvoiceTitle:
		return invalid("invoice title is %d characters, Telegram allows 1-%d", utf8.RuneCountInString(inv.Title), MaxInvoiceTitle)
	case utf8.RuneCountInString(inv.Description) < 1 || utf8.RuneCountInString(inv.Description) > MaxInvoiceDescription:
		return invalid("invoice description is %d characters, Telegram allows 1-%d", utf8.RuneCountInString(inv.Description), MaxInvoiceDescription)
	case inv.Amount <= 0:
		return invalid("invoice amount %d is not positive", inv.Amount)
	case inv.Currency != Stars && c.cfg.PaymentProviderToken == "":
		return invalid("an invoice in %s needs a payment provider token: set %s", inv.Currency, EnvName(c.cfg.Account, "PAYMENT_PROVIDER_TOKEN"))
	}
	rest := make([]channels.Button, 0, len(m.Buttons)-1)
	rest = append(append(rest, m.Buttons[:at]...), m.Buttons[at+1:]...)
	for _, b := range rest {
		if b.Pay != nil {
			return invalid("a message carries one invoice; it has a second pay button %q", b.Text)
		}
	}
	kb, err := Keyboard(rest)
	if err != nil {
		return invalid("%v", err)
	}
	if kb == nil {
		kb = &InlineKeyboard{}
	}
	kb.InlineKeyboard = append([][]InlineButton{{{Text: m.Buttons[at].Text, Pay: true}}}, kb.InlineKeyboard...)
	req := map[string]any{
		"chat_id": chatID(m.To), "title": inv.Title, "description": inv.Description, "payload": inv.Payload,
		"currency": inv.Currency, "prices": []LabeledPrice{{Label: inv.Title, Amount: inv.Amount}}, "reply_markup": kb,
	}
	if inv.Currency != Stars {
		req["provider_token"] = c.cfg.PaymentProviderToken
	}
	if m.ImageURL != "" {
		req["photo_url"] = m.ImageURL
	}
	return c.send(ctx, "sendInvoice", req)
}

// AnswerPreCheckoutQuery answers a pre-checkout: ok, or a refusal with the
// reason the customer sees (required by the Bot API when ok is false).
func (c *Client) AnswerPreCheckoutQuery(ctx context.Context, id string, ok bool, reason string) error {
	req := map[string]any{"pre_checkout_query_id": id, "ok": ok}
	if !ok {
		req["error_message"] = reason
	}
	return c.Call(ctx, "answerPreCheckoutQuery", req, nil)
}

// ParsePayment reads the payments part of an update: a pre-checkout query
// or a successful payment (both nil for any other update).
func ParsePayment(account string, body []byte) (*channels.PaymentCheck, string, *channels.Payment, error) {
	var u struct {
		PreCheckoutQuery *PreCheckoutQuery `json:"pre_checkout_query"`
		Message          *struct {
			Date              int64              `json:"date"`
			Chat              Chat               `json:"chat"`
			SuccessfulPayment *SuccessfulPayment `json:"successful_payment"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, "", nil, fmt.Errorf("telegram update: %w", err)
	}
	if q := u.PreCheckoutQuery; q != nil {
		if q.ID == "" {
			return nil, "", nil, fmt.Errorf("telegram pre_checkout_query: no id")
		}
		return &channels.PaymentCheck{Channel: channels.Telegram, Account: account, From: strconv.FormatInt(q.From.ID, 10),
			Payload: q.InvoicePayload, Currency: q.Currency, Amount: q.TotalAmount}, q.ID, nil, nil
	}
	if u.Message == nil || u.Message.SuccessfulPayment == nil {
		return nil, "", nil, nil
	}
	sp := u.Message.SuccessfulPayment
	if sp.TelegramPaymentChargeID == "" {
		return nil, "", nil, fmt.Errorf("telegram successful_payment: no telegram_payment_charge_id")
	}
	p := &channels.Payment{Channel: channels.Telegram, Account: account, From: strconv.FormatInt(u.Message.Chat.ID, 10),
		Payload: sp.InvoicePayload, Currency: sp.Currency, Amount: sp.TotalAmount,
		ChargeID: sp.TelegramPaymentChargeID, ProviderChargeID: sp.ProviderPaymentChargeID}
	if u.Message.Date > 0 {
		p.ProviderAt = time.Unix(u.Message.Date, 0).UTC()
	}
	return nil, "", p, nil
}

// NewPaymentsWebhook is NewWebhook with in-chat payments: pre-checkouts are
// checked by pay and answered from the webhook itself, within the Bot
// API's 10 seconds; payments are recorded by pay before the update is
// acknowledged, so a failure is delivered again.
func NewPaymentsWebhook(cfg Config, sink channels.Sink, log *slog.Logger, pay channels.Payments) http.Handler {
	h := NewWebhook(cfg, sink, log).(*Webhook)
	h.pay = pay
	return h
}

// payment handles the update in body when it is a pre-checkout or a
// payment, and reports whether it did (and answered w).
func (h *Webhook) payment(w http.ResponseWriter, r *http.Request, body []byte) bool {
	check, queryID, paid, err := ParsePayment(h.cfg.Account, body)
	if err != nil || (check == nil && paid == nil) {
		return false // not a payment: ParseUpdate reads it (and refuses what is unreadable)
	}
	// Detached from the request: Telegram may drop the connection, the
	// answer still has to reach it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), PreCheckoutDeadline-time.Second)
	defer cancel()
	if paid != nil {
		if h.pay == nil {
			h.log.ErrorContext(ctx, "telegram payment received but payments are not wired")
			http.Error(w, "payments not configured", http.StatusServiceUnavailable)
			return true
		}
		if err := h.pay.Paid(ctx, *paid); err != nil {
			h.log.ErrorContext(ctx, "telegram payment not stored", "err", err, "charge_id", paid.ChargeID)
			http.Error(w, "not stored, retry", http.StatusInternalServerError)
			return true
		}
		w.WriteHeader(http.StatusOK)
		return true
	}
	refusal := RefuseUnavailable
	if h.pay != nil {
		checkCtx, cancelCheck := context.WithTimeout(ctx, PreCheckoutDeadline/2)
		reason, err := h.pay.Check(checkCtx, *check)
		cancelCheck()
		if err != nil {
			h.log.ErrorContext(ctx, "pre-checkout not checked", "err", err)
		} else {
			refusal = reason
		}
	}
	if err := h.client.AnswerPreCheckoutQuery(ctx, queryID, refusal == "", refusal); err != nil {
		h.log.WarnContext(ctx, "answerPreCheckoutQuery failed", "err", err)
	}
	w.WriteHeader(http.StatusOK)
	return true
}

// PaymentsConfigured reports whether the bot has a payment provider token,
// so that pay buttons in currencies other than Stars go out as invoices (the
// settings page shows this, never the token).
func (c *Client) PaymentsConfigured() bool { return c.cfg.PaymentProviderToken != "" }
