package channels

import (
	"context"
	"time"
)

// Invoice is a payment a pay button asks for. Adapters with in-chat
// payments (Telegram) send it as an invoice; the composer sends every other
// channel the button's URL instead, so only those adapters see an Invoice.
type Invoice struct {
	// Payload names the invoice to the engine (package payments); the
	// provider hands it back on the pre-checkout and the payment.
	Payload     string `json:"payload"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Currency    string `json:"currency"` // ISO 4217, or XTR
	Amount      int64  `json:"amount"`   // in the currency's smallest unit
	Product     string `json:"product"`
	// ValidFor is how long the engine accepts payment of the invoice.
	ValidFor time.Duration `json:"-"`
}

// PaymentCheck is a provider asking, before it charges the customer,
// whether the invoice can still be paid (Telegram's pre_checkout_query).
type PaymentCheck struct {
	Channel  Kind
	Account  string
	From     string // the payer's address (chat id)
	Payload  string
	Currency string
	Amount   int64
}

// Payment is a completed payment a provider reports (Telegram's
// successful_payment). ChargeID is the provider's id of the charge and
// makes a redelivery harmless.
type Payment struct {
	Channel          Kind
	Account          string
	From             string
	Payload          string
	Currency         string
	Amount           int64
	ChargeID         string
	ProviderChargeID string // the payment provider's own id (Stripe, YooKassa, …)
	ProviderAt       time.Time
}

// Payments is the engine's side of in-chat payments (package payments):
// an adapter asks it synchronously, in the webhook, because the provider
// waits for the answer (Telegram: 10 seconds).
type Payments interface {
	// Check returns "" when the invoice can be paid, or the reason shown
	// to the customer when it cannot.
	Check(ctx context.Context, c PaymentCheck) (refusal string, err error)
	// Paid records a payment; a second report of one charge changes nothing.
	Paid(ctx context.Context, p Payment) error
}
