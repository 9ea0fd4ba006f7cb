package channels

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
}
