package payments

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/templates"
)

// RenewedEvent is the subscriber event a payment posts.
const RenewedEvent = "subscription.renewed"

// PayloadPrefix starts every payload Issue makes; anything else is not ours.
const PayloadPrefix = "nudge1."

// Refusals shown to the customer by the messenger when a pre-checkout fails.
const (
	RefuseUnknown  = "This invoice is not known. Please use the latest one from the chat."
	RefuseExpired  = "This invoice has expired. Please ask us for a new one."
	RefusePaid     = "This invoice is already paid."
	RefuseMismatch = "The amount of this invoice has changed. Please use the latest one from the chat."
)

// Config configures a Service.
type Config struct {
	DB  *sqlx.DB
	Log *slog.Logger
	Now func() time.Time // the engine's clock: issue and expiry times
}

// Service issues invoices and checks and records their payments.
type Service struct {
	db  *sqlx.DB
	log *slog.Logger
	now func() time.Time
}

// New returns a Service.
func New(c Config) *Service {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{db: c.DB, log: c.Log, now: c.Now}
}

var _ channels.Payments = (*Service)(nil)

// Message is what a composed message is to its invoices.
type Message struct {
	Key          string // the message's idempotency key
	SubscriberID int64
	CampaignID   string
	Version      string
	StepID       string
	Channel      channels.Kind
}

// Payload is the payload of pay button i of the message with key msgKey:
// the same when the message is composed again (a retry issues no second
// invoice), 34 bytes (Telegram allows 128), and telling nothing.
func Payload(msgKey string, i int) string {
	h := sha256.Sum256([]byte(msgKey + "\x1f" + strconv.Itoa(i)))
	return PayloadPrefix + base64.RawURLEncoding.EncodeToString(h[:20])
}

// Issue gives every invoice of r its payload and records it, before the
// message goes out (on the pool, like tracked links: whichever transaction
// later records the message). r is returned unchanged when it has none.
func (s *Service) Issue(ctx context.Context, m Message, r templates.Rendered) (templates.Rendered, error) {
	has := false
	for _, b := range r.Buttons {
		has = has || b.Pay != nil
	}
	if s == nil || !has {
		return r, nil
	}
	now := s.now()
	out := r
	out.Buttons = append([]channels.Button(nil), r.Buttons...)
	for i, b := range out.Buttons {
		if b.Pay == nil {
			continue
		}
		inv := *b.Pay
		inv.Payload = Payload(m.Key, i)
		out.Buttons[i].Pay = &inv
		if _, err := s.db.ExecContext(ctx, qIssue, inv.Payload, m.Key, m.SubscriberID, m.CampaignID, m.Version, m.StepID,
			string(m.Channel), inv.Product, inv.Currency, inv.Amount, now, now.Add(inv.ValidFor)); err != nil {
			return r, fmt.Errorf("issue invoice: %w", err)
		}
	}
	return out, nil
}

type invoice struct {
	SubscriberID sql.NullInt64  `db:"subscriber_id"`
	CampaignID   string         `db:"campaign_id"`
	StepID       string         `db:"step_id"`
	Product      string         `db:"product"`
	Currency     string         `db:"currency"`
	Amount       int64          `db:"amount"`
	ExpiresAt    time.Time      `db:"expires_at"`
	Status       string         `db:"status"`
	ChargeID     sql.NullString `db:"charge_id"`
}

func (s *Service) get(ctx context.Context, payload string) (*invoice, error) {
	var inv invoice
	err := s.db.GetContext(ctx, &inv, qGet, payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read invoice: %w", err)
	}
	return &inv, nil
}

// Check answers a pre-checkout: "" for a known, open, unexpired invoice of
// that amount and currency, else the reason. One indexed read: the
// provider waits for the answer.
func (s *Service) Check(ctx context.Context, c channels.PaymentCheck) (string, error) {
	inv, err := s.get(ctx, c.Payload)
	if err != nil {
		return "", err
	}
	refusal := ""
	switch {
	case inv == nil || !inv.SubscriberID.Valid:
		refusal = RefuseUnknown
	case inv.Status == "paid":
		refusal = RefusePaid
	case !s.now().Before(inv.ExpiresAt):
		refusal = RefuseExpired
	case inv.Currency != c.Currency || inv.Amount != c.Amount:
		refusal = RefuseMismatch
	}
	if refusal != "" {
		s.log.InfoContext(ctx, "pre-checkout refused", "channel", string(c.Channel), "reason", refusal)
	}
	return refusal, nil
}

// Paid marks the invoice paid and posts the subscriber's
// subscription.renewed event, in one transaction; a payment whose charge
// id is already recorded changes nothing. A payment of an invoice that is
// not ours is logged and dropped: there is nobody to credit it to.
func (s *Service) Paid(ctx context.Context, p channels.Payment) error {
	if p.ChargeID == "" {
		return errors.New("payment without a charge id")
	}
	inv, err := s.get(ctx, p.Payload)
	if err != nil {
		return err
	}
	if inv == nil || !inv.SubscriberID.Valid {
		s.log.WarnContext(ctx, "payment of an unknown invoice", "channel", string(p.Channel), "charge_id", p.ChargeID)
		return nil
	}
	now := s.now()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record payment: %w", err)
	}
	defer tx.Rollback()
	n, err := db.Exec(ctx, tx, "record payment", qPaid, p.Payload, p.ChargeID, p.ProviderChargeID, now)
	if err != nil {
		return err
	}
	if n == 0 {
		// Paid before: this charge again (a redelivery), or a second charge
		// of one invoice, which the provider should not make; keep the first.
		if !inv.ChargeID.Valid || inv.ChargeID.String != p.ChargeID {
			s.log.WarnContext(ctx, "second payment of one invoice", "channel", string(p.Channel), "charge_id", p.ChargeID)
		}
		return nil
	}
	ev := subscribers.Event{Name: RenewedEvent, IdempotencyKey: string(p.Channel) + ":" + p.ChargeID, Payload: map[string]any{
		"amount": p.Amount, "currency": p.Currency, "product": inv.Product, "channel": string(p.Channel),
		"campaign_id": inv.CampaignID, "step_id": inv.StepID,
		"charge_id": p.ChargeID, "provider_charge_id": p.ProviderChargeID}}
	if _, err := subscribers.AddEventFor(ctx, tx, inv.SubscriberID.Int64, ev, now); err != nil {
		return fmt.Errorf("record payment: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record payment: %w", err)
	}
	s.log.InfoContext(ctx, "payment recorded", "channel", string(p.Channel), "subscriber_id", inv.SubscriberID.Int64,
		"campaign_id", inv.CampaignID, "amount", p.Amount, "currency", p.Currency)
	return nil
}
