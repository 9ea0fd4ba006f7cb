package telegramfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/currency"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// The payments part of the Bot API: sendInvoice, pre_checkout_query with
// answerPreCheckoutQuery, and the successful_payment service message; Pay
// and Checkout play the customer who pays (also over HTTP at PayPath).

// ProviderToken is the payment provider token the fake accepts (the shape
// of @BotFather's Stripe TEST tokens).
const ProviderToken = "284685063:TEST:MjQ2ZmE0ZTRhMTJm"

// PayPath is the fake's control endpoint where a customer pays: POST JSON
// {"chat_id":…, "message_id":…} pays that invoice; {"chat_id":…,
// "payload":…, "currency":…, "total_amount":…} checks out any payload. The
// answer is a Receipt.
const PayPath = "/control/pay"

// PreCheckoutTimeout is how long Telegram waits for answerPreCheckoutQuery.
const PreCheckoutTimeout = 10 * time.Second

var errNoInvoice = errors.New("telegramfake: no such invoice")

// Stars is Telegram's own currency.
const Stars = "XTR"

// Invoice limits of sendInvoice.
const (
	MaxInvoiceTitle       = 32
	MaxInvoiceDescription = 255
	MaxInvoicePayload     = 128 // bytes
)

// Price is a LabeledPrice of an invoice.
type Price struct {
	Label  string `json:"label"`
	Amount int64  `json:"amount"`
}

// Invoice is an accepted sendInvoice.
type Invoice struct {
	MessageID     int64
	ChatID        int64
	Title         string
	Description   string
	Payload       string
	ProviderToken string
	Currency      string
	Prices        []Price
	Total         int64
	PhotoURL      string
	Keyboard      [][]Button
	At            time.Time
}

// PreCheckoutAnswer is a recorded answerPreCheckoutQuery.
type PreCheckoutAnswer struct {
	QueryID      string
	OK           bool
	ErrorMessage string
	At           time.Time
}

// Receipt is what became of a customer's attempt to pay.
type Receipt struct {
	Paid bool `json:"paid"`
	// Reason is the bot's error_message when it refused the pre-checkout,
	// or what went wrong (no answer in time, the webhook failing).
	Reason           string `json:"reason,omitempty"`
	ChargeID         string `json:"telegram_payment_charge_id,omitempty"`
	ProviderChargeID string `json:"provider_payment_charge_id,omitempty"`
	// Status is the webhook's HTTP status for the successful_payment update.
	Status int `json:"status,omitempty"`
}

type payments struct {
	invoices fakekit.Log[Invoice]
	answers  fakekit.Log[PreCheckoutAnswer]
	mu       sync.Mutex
	waiting  map[string]chan PreCheckoutAnswer
	charges  int64
}

func init() {
	str, integer := []string{"String"}, []string{"Integer"}
	methods["sendinvoice"] = map[string]field{
		"chat_id": {Types: []string{"Integer", "String"}, Required: true}, "title": {Types: str, Required: true},
		"description": {Types: str, Required: true}, "payload": {Types: str, Required: true},
		"provider_token": {Types: str}, "currency": {Types: str, Required: true},
		"prices": {Types: []string{"Array of LabeledPrice"}, Required: true}, "max_tip_amount": {Types: integer},
		"photo_url": {Types: str}, "reply_markup": {Types: []string{"InlineKeyboardMarkup"}},
	}
	methods["answerprecheckoutquery"] = map[string]field{
		"pre_checkout_query_id": {Types: str, Required: true}, "ok": {Types: []string{"Boolean"}, Required: true},
		"error_message": {Types: str},
	}
}

// Invoices returns the accepted invoices in order.
func (s *Server) Invoices() []Invoice { return s.pay.invoices.All() }

// PreCheckoutAnswers returns the recorded answerPreCheckoutQuery calls.
func (s *Server) PreCheckoutAnswers() []PreCheckoutAnswer { return s.pay.answers.All() }

// sendInvoice validates like Telegram: title, description and payload
// lengths, a known currency, prices in whole minor units with a positive
// total, the provider token (none for Stars, whose invoice has one price),
// and a keyboard whose first button is the Pay button.
func (s *Server) sendInvoice(w http.ResponseWriter, p map[string]string) {
	chat, err := strconv.ParseInt(p["chat_id"], 10, 64)
	if err != nil {
		fail(w, ChatNotFound)
		return
	}
	inv := Invoice{ChatID: chat, Title: p["title"], Description: p["description"], Payload: p["payload"],
		ProviderToken: p["provider_token"], Currency: p["currency"], PhotoURL: p["photo_url"]}
	if msg := checkInvoice(&inv, p["prices"], s.providerToken()); msg != "" {
		badRequest(w, "%s", msg)
		return
	}
	kb, good := keyboardParam(w, p)
	if !good {
		return
	}
	if kb != nil && (len(kb) == 0 || len(kb[0]) == 0 || !kb[0][0].Pay) {
		badRequest(w, "REPLY_MARKUP_BUY_EMPTY") // the first button must be the Pay button
		return
	}
	inv.Keyboard = kb
	ids, at, f := s.admit(chat, 1)
	if f != nil {
		fail(w, *f)
		return
	}
	inv.MessageID, inv.At = ids[0], at
	s.pay.invoices.Add(inv)
	res := map[string]any{
		"message_id": inv.MessageID, "date": inv.At.Unix(), "chat": map[string]any{"id": chat, "type": "private"},
		"from":    map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"},
		"invoice": map[string]any{"title": inv.Title, "description": inv.Description, "start_parameter": "", "currency": inv.Currency, "total_amount": inv.Total},
	}
	if inv.Keyboard != nil {
		res["reply_markup"] = map[string]any{"inline_keyboard": inv.Keyboard}
	}
	ok(w, res)
}

func (s *Server) providerToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ProviderToken != "" {
		return s.ProviderToken
	}
	return ProviderToken
}

// checkInvoice fills inv's prices and total from the prices parameter and
// returns Telegram's error for a bad invoice ("" when it is good).
func checkInvoice(inv *Invoice, prices, token string) string {
	if n := utf8.RuneCountInString(inv.Title); n < 1 || n > MaxInvoiceTitle {
		return "INVOICE_TITLE_INVALID"
	}
	if n := utf8.RuneCountInString(inv.Description); n < 1 || n > MaxInvoiceDescription {
		return "INVOICE_DESCRIPTION_INVALID"
	}
	if n := len(inv.Payload); n < 1 || n > MaxInvoicePayload {
		return "INVOICE_PAYLOAD_INVALID"
	}
	if inv.Currency != Stars {
		if _, err := currency.ParseISO(inv.Currency); err != nil || len(inv.Currency) != 3 {
			return "CURRENCY_INVALID"
		}
	}
	if err := json.Unmarshal([]byte(prices), &inv.Prices); err != nil {
		return "can't parse prices JSON object"
	}
	if len(inv.Prices) == 0 {
		return "PRICES_EMPTY"
	}
	for _, pr := range inv.Prices {
		if pr.Label == "" {
			return "PRICE_LABEL_EMPTY"
		}
		inv.Total += pr.Amount
	}
	if inv.Total <= 0 {
		return "CURRENCY_TOTAL_AMOUNT_INVALID"
	}
	switch {
	case inv.Currency == Stars && inv.ProviderToken != "":
		return "PAYMENT_PROVIDER_INVALID" // Stars need no provider
	case inv.Currency == Stars && len(inv.Prices) != 1:
		return "STARS_INVOICE_INVALID" // exactly one price in Stars
	case inv.Currency != Stars && inv.ProviderToken != token:
		return "PAYMENT_PROVIDER_INVALID"
	}
	return ""
}

// answerPreCheckout records the bot's answer and hands it to the customer
// waiting on it.
func (s *Server) answerPreCheckout(w http.ResponseWriter, p map[string]string) {
	okv, _ := strconv.ParseBool(p["ok"])
	a := PreCheckoutAnswer{QueryID: p["pre_checkout_query_id"], OK: okv, ErrorMessage: p["error_message"], At: s.Now()}
	if !a.OK && a.ErrorMessage == "" {
		badRequest(w, "error_message is empty") // required when ok is false
		return
	}
	s.pay.mu.Lock()
	ch, waiting := s.pay.waiting[a.QueryID]
	delete(s.pay.waiting, a.QueryID)
	s.pay.mu.Unlock()
	if !waiting {
		badRequest(w, "QUERY_ID_INVALID") // unknown, answered already, or too late
		return
	}
	s.pay.answers.Add(a)
	ch <- a
	ok(w, true)
}

// Pay plays the customer paying invoice messageID in chatID: Checkout with
// its payload, currency and total.
func (s *Server) Pay(ctx context.Context, chatID, messageID int64) (Receipt, error) {
	for _, inv := range s.Invoices() {
		if inv.ChatID == chatID && inv.MessageID == messageID {
			return s.Checkout(ctx, chatID, inv.Payload, inv.Currency, inv.Total)
		}
	}
	return Receipt{}, fmt.Errorf("%w: chat %d, message %d", errNoInvoice, chatID, messageID)
}

// Checkout plays a customer paying: it posts pre_checkout_query to the
// webhook, waits up to PreCheckoutTimeout for answerPreCheckoutQuery and,
// when the bot said ok, posts the successful_payment message. A refusal
// or no answer in time is a Receipt that is not Paid, as the customer
// sees it; an error is the webhook unreachable.
func (s *Server) Checkout(ctx context.Context, chatID int64, payload, cur string, total int64) (Receipt, error) {
	id := s.nextUpdate()
	queryID := strconv.FormatInt(chatID, 10) + strconv.FormatInt(id, 10)
	answer := make(chan PreCheckoutAnswer, 1)
	s.pay.mu.Lock()
	if s.pay.waiting == nil {
		s.pay.waiting = map[string]chan PreCheckoutAnswer{}
	}
	s.pay.waiting[queryID] = answer
	s.pay.mu.Unlock()
	forget := func() {
		s.pay.mu.Lock()
		delete(s.pay.waiting, queryID)
		s.pay.mu.Unlock()
	}
	body, _ := json.Marshal(map[string]any{"update_id": id, "pre_checkout_query": map[string]any{
		"id": queryID, "from": user(chatID), "currency": cur, "total_amount": total, "invoice_payload": payload}})
	if _, err := s.Post(ctx, body); err != nil {
		forget()
		return Receipt{}, err
	}
	timer := time.NewTimer(PreCheckoutTimeout)
	defer timer.Stop()
	var a PreCheckoutAnswer
	select {
	case a = <-answer:
	case <-timer.C:
		forget()
		return Receipt{Reason: "the bot did not answer the pre-checkout query within 10 seconds"}, nil
	case <-ctx.Done():
		forget()
		return Receipt{}, ctx.Err()
	}
	if !a.OK {
		return Receipt{Reason: a.ErrorMessage}, nil
	}
	s.pay.mu.Lock()
	s.pay.charges++
	n := s.pay.charges
	s.pay.mu.Unlock()
	r := Receipt{Paid: true, ChargeID: fmt.Sprintf("%d_%d_%d", BotID, chatID, n), ProviderChargeID: fmt.Sprintf("pi_fake%016d", n)}
	sp := map[string]any{"currency": cur, "total_amount": total, "invoice_payload": payload,
		"telegram_payment_charge_id": r.ChargeID, "provider_payment_charge_id": r.ProviderChargeID}
	st, err := s.Post(ctx, s.messageUpdate(chatID, map[string]any{"successful_payment": sp}))
	r.Status = st
	return r, err
}

// servePay is the PayPath control endpoint.
func (s *Server) servePay(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fakekit.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	}
	var req struct {
		ChatID      int64  `json:"chat_id"`
		MessageID   int64  `json:"message_id"`
		Payload     string `json:"payload"`
		Currency    string `json:"currency"`
		TotalAmount int64  `json:"total_amount"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.ChatID == 0 || (req.MessageID == 0 && req.Payload == "") {
		fakekit.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "want {chat_id, message_id} or {chat_id, payload, currency, total_amount}"})
		return
	}
	var rec Receipt
	var err error
	if req.MessageID != 0 {
		rec, err = s.Pay(r.Context(), req.ChatID, req.MessageID)
	} else {
		rec, err = s.Checkout(r.Context(), req.ChatID, req.Payload, req.Currency, req.TotalAmount)
	}
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, errNoInvoice) {
			status = http.StatusNotFound
		}
		fakekit.WriteJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	fakekit.WriteJSON(w, http.StatusOK, rec)
}
