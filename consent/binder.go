package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
)

// Binder turns inbound opt-in starts and opt-outs into identities and
// consent events.
type Binder struct {
	db     *sqlx.DB
	ledger *Ledger
	codes  *Codes
	now    func() time.Time
	log    *slog.Logger
}

// NewBinder returns a binder on d; now is the clock (nil = time.Now).
func NewBinder(d *sqlx.DB, log *slog.Logger, now func() time.Time) *Binder {
	now = clock.NowOr(now)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Binder{db: d, ledger: NewLedger(), codes: NewCodes(now), now: now, log: log}
}

// ErrBadEvent is returned for an event that cannot be bound (no channel or sender).
var ErrBadEvent = errors.New("event cannot be bound")

// errRace asks Start to run its transaction again (a concurrent start for the
// same identity committed first).
var errRace = errors.New("identity created concurrently")

// errDuplicate stops a transaction for a provider event already handled.
type errDuplicate struct{ subscriberID int64 }

func (e *errDuplicate) Error() string { return "provider event already handled" }

func checkEvent(ev channels.Event) error {
	if !ev.Channel.Valid() {
		return fmt.Errorf("%w: channel %q", ErrBadEvent, ev.Channel)
	}
	if ev.From == "" || len(ev.From) > 255 {
		return fmt.Errorf("%w: sender address must be 1-255 bytes", ErrBadEvent)
	}
	return nil
}

// ErrNotStart is returned by Start for a start found in a customer's message
// (WhatsApp's prefilled text) when no code-shaped token in it is a known
// opt-in code: the message is an ordinary text, not an opt-in.
var ErrNotStart = errors.New("message carries no known opt-in code")

// Start handles an inbound opt-in start (Telegram /start CODE, Viber
// conversation_started context, Messenger/Instagram/VK ref, WhatsApp text with the
// code). It binds the channel identity to the code's subscriber (a known
// identity bound to someone else is moved, and the old subscriber's consent
// on that channel is revoked with a note), or, without a usable code, keeps
// the identity's subscriber or creates an anonymous one. It then records
// consent on the channel: the code's topics with the code's source, or the
// service topic from the dialog when the customer wrote first without a code
// (marketing always needs a code that asked for it). A provider event seen
// before (same ProviderEventID) changes nothing. Returns the subscriber id.
//
// A start without Code whose Text carries code-shaped tokens came inside a
// customer's message: when none of them is a known code (expired or used ones
// are known), Start changes nothing and returns ErrNotStart.
func (b *Binder) Start(ctx context.Context, ev channels.Event) (int64, error) {
	if err := checkEvent(ev); err != nil {
		return 0, err
	}
	cands := CodeCandidates(ev.Text)
	inText := ev.Code == "" && len(cands) > 0
	if ev.Code != "" {
		cands = []string{ev.Code}
	}
	for attempt := 0; ; attempt++ {
		var id int64
		err := db.WithTx(ctx, b.db, func(tx *sqlx.Tx) error {
			var err error
			id, err = b.start(ctx, tx, ev, cands, inText)
			return err
		})
		var dup *errDuplicate
		switch {
		case errors.As(err, &dup):
			return dup.subscriberID, nil
		case errors.Is(err, ErrNotStart):
			return 0, err
		case (errors.Is(err, errRace) || isDeadlock(err)) && attempt < 3:
			// A concurrent start created the identity first, or two rebinds
			// took subscriber locks in opposite order: run again.
			continue
		case err != nil:
			return 0, fmt.Errorf("consent start: %w", err)
		}
		return id, nil
	}
}

func isDeadlock(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func (b *Binder) start(ctx context.Context, tx *sqlx.Tx, ev channels.Event, cands []string, inText bool) (int64, error) {
	now := b.now().UTC()
	var code *Code
	for _, c := range cands {
		got, err := b.codes.get(ctx, tx, c, sqlLockCode)
		if errors.Is(err, ErrCodeNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		code = got
		break
	}
	if code == nil && inText {
		return 0, ErrNotStart
	}
	if code != nil && !now.Before(code.ExpiresAt) {
		b.log.DebugContext(ctx, "opt-in code expired", "channel", ev.Channel)
		code = nil
	}

	var identID, identSub int64
	err := tx.QueryRowxContext(ctx, sqlLockIdentity, string(ev.Channel), ev.From, channels.Account(ev.Account)).Scan(&identID, &identSub)
	found := err == nil
	if err != nil && !db.IsNoRows(err) {
		return 0, fmt.Errorf("read identity: %w", err)
	}
	// A customer-bound code works once per channel, unless it is the same
	// identity coming back: someone else holding the link gets no takeover.
	if code != nil && code.SubscriberID != nil && code.usedOn(ev.Channel) && !(found && identSub == *code.SubscriberID) {
		b.log.InfoContext(ctx, "opt-in code already used on this channel", "channel", ev.Channel, "subscriber_id", *code.SubscriberID)
		code = nil
	}

	var target int64
	switch {
	case code != nil && code.SubscriberID != nil:
		target = *code.SubscriberID
	case found:
		target = identSub
	default:
		if err := tx.GetContext(ctx, &target, sqlInsertAnonymous, localeOf(ev.Locale), clip(ev.Name)); err != nil {
			return 0, fmt.Errorf("create anonymous subscriber: %w", err)
		}
	}

	topics := []Topic{TopicService}
	source := SourceDialog
	proof := Proof{Account: channels.Account(ev.Account), ProviderEventID: ev.ProviderEventID, ProviderMessageID: ev.ProviderMessageID}
	payload := map[string]any{"channel": ev.Channel}
	if code != nil {
		topics = code.TopicList()
		source = code.Source
		proof.Code = code.Code
		proof.JTI = code.JTI
		proof.TextVersion = code.TextVersion
		attr := code.Attribution().Map()
		proof.Attribution = attr
		payload["code"] = code.Code
		if len(attr) > 0 {
			payload["attribution"] = attr
		}
	}
	payload["source"] = source
	payload["topics"] = topics

	// Dedupe on the provider event: the start event's idempotency key.
	if ev.ProviderEventID != "" {
		pb, _ := json.Marshal(payload)
		var evID int64
		err := tx.GetContext(ctx, &evID, sqlInsertStartEvent, target, eventTime(ev, now), pb,
			"consent.opt_in:"+string(ev.Channel)+":"+ev.ProviderEventID)
		if db.IsNoRows(err) {
			return 0, &errDuplicate{subscriberID: target}
		}
		if err != nil {
			return 0, fmt.Errorf("record opt-in event: %w", err)
		}
	}

	switch {
	case !found:
		var newID int64
		err := tx.GetContext(ctx, &newID, sqlInsertIdentity, target, string(ev.Channel), ev.From, now, channels.Account(ev.Account))
		if db.IsNoRows(err) {
			return 0, errRace
		}
		if err != nil {
			return 0, fmt.Errorf("bind identity: %w", err)
		}
	case identSub != target:
		// The identity moves to the code's subscriber; the old subscriber no
		// longer reaches anyone on this channel.
		if _, err := tx.ExecContext(ctx, sqlRebindIdentity, identID, target, now); err != nil {
			return 0, fmt.Errorf("rebind identity: %w", err)
		}
		old, err := b.ledger.grantedOn(ctx, tx, identSub, ev.Channel)
		if err != nil {
			return 0, err
		}
		for _, t := range old {
			if err := b.ledger.Revoke(ctx, tx, Change{SubscriberID: identSub, Channel: ev.Channel, Topic: t, Source: SourceDialog,
				Proof: Proof{Note: "identity_rebound", OtherSubscriberID: target, Code: proof.Code, ProviderEventID: ev.ProviderEventID}}); err != nil {
				return 0, err
			}
		}
		b.log.InfoContext(ctx, "identity rebound", "channel", ev.Channel, "from_subscriber_id", identSub, "subscriber_id", target)
	default:
		if _, err := tx.ExecContext(ctx, sqlTouchIdentity, identID, now); err != nil {
			return 0, fmt.Errorf("touch identity: %w", err)
		}
	}

	for _, t := range topics {
		if err := b.ledger.Grant(ctx, tx, Change{SubscriberID: target, Channel: ev.Channel, Topic: t, Source: source, Proof: proof}); err != nil {
			return 0, err
		}
	}
	if code != nil {
		if _, err := tx.ExecContext(ctx, sqlUseCode, code.Code, string(ev.Channel), now); err != nil {
			return 0, fmt.Errorf("use opt-in code: %w", err)
		}
	}
	b.log.InfoContext(ctx, "opt-in", "channel", ev.Channel, "subscriber_id", target, "source", source, "with_code", code != nil)
	return target, nil
}

func eventTime(ev channels.Event, now time.Time) time.Time {
	if ev.At.IsZero() {
		return now
	}
	return ev.At
}

// OptOut revokes every topic on the event's channel for the identity's
// subscriber, at once, in one transaction. An identity Nudge does not know has
// nothing to revoke. Messages resume only after a new consent event (a new
// start, the API).
func (b *Binder) OptOut(ctx context.Context, ev channels.Event) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	keyword := ""
	switch {
	case ev.Type == channels.EventOptOut:
		keyword = "provider_opt_out"
	case ev.Payload == UnsubscribePayload:
		keyword = "button:" + UnsubscribePayload
	case IsOptOut(ev.Text):
		keyword = ev.Text
	}
	return db.WithTx(ctx, b.db, func(tx *sqlx.Tx) error {
		var sub int64
		err := tx.GetContext(ctx, &sub, sqlIdentitySubscriber, string(ev.Channel), ev.From, channels.Account(ev.Account))
		if db.IsNoRows(err) {
			b.log.DebugContext(ctx, "opt-out from unknown identity", "channel", ev.Channel)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read identity: %w", err)
		}
		if err := RevokeChannel(ctx, tx, sub, ev.Channel, SourceDialog,
			Proof{Account: channels.Account(ev.Account), ProviderEventID: ev.ProviderEventID, ProviderMessageID: ev.ProviderMessageID, Keyword: keyword}); err != nil {
			return err
		}
		b.log.InfoContext(ctx, "opt-out", "channel", ev.Channel, "subscriber_id", sub)
		return nil
	})
}

// localeOf keeps the language of a provider locale ("en-US" → "en").
func localeOf(s string) string {
	if len(s) < 2 || len(s) > 35 {
		return ""
	}
	l := strings.ToLower(s[:2])
	if l[0] < 'a' || l[0] > 'z' || l[1] < 'a' || l[1] > 'z' {
		return ""
	}
	return l
}
