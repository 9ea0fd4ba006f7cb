package subscribers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
)

const qExportEvents = `
SELECT coalesce(json_agg(json_build_object('name', name, 'occurred_at', occurred_at, 'payload', payload,
       'idempotency_key', idempotency_key) ORDER BY occurred_at, id), '[]')
  FROM subscriber_events WHERE subscriber_id = $1`

// Subject is the subscriber an erasure or an export is about, with the
// identities they had when it started.
type Subject struct {
	ID         int64
	Identities []Identity
}

// Part is one package's share of a subscriber's data: the tables it owns,
// scrubbed on erasure and read for an export. Packages that depend on this
// one (the worker, the inbox, inbound) cannot be called from here, so the
// process wiring hands their parts to the store (WithParts).
type Part struct {
	Name string // the export's section
	// Erase scrubs the part's tables inside the erasing transaction q. It
	// runs before the subscriber's identities are deleted. Its errors say
	// what they failed to erase (db.Erase); the store adds the part's Name.
	Erase func(ctx context.Context, q db.Executor, s Subject, pseudonym string, at time.Time) error
	// Export returns the part's data as JSON-encodable; nil = nothing to
	// export. Its errors say what they failed to read (db.Export).
	Export func(ctx context.Context, q db.Executor, s Subject) (any, error)
}

// PartByID is the Part of a package whose tables find the subscriber by
// internal id alone: erase scrubs them, export reads them.
func PartByID[T any](name string, erase func(context.Context, db.Executor, int64) error, export func(context.Context, db.Executor, int64) (T, error)) Part {
	return Part{Name: name,
		Erase: func(ctx context.Context, q db.Executor, s Subject, _ string, _ time.Time) error {
			return erase(ctx, q, s.ID)
		},
		Export: func(ctx context.Context, q db.Executor, s Subject) (any, error) { return export(ctx, q, s.ID) }}
}

// WithParts returns the store erasing and exporting parts too, in order.
func (s *Store) WithParts(parts ...Part) *Store {
	c := *s
	c.parts = append(append([]Part(nil), s.parts...), parts...)
	return &c
}

// Erase irreversibly removes the personal data of the subscriber
// externalID in one transaction: every part scrubs its tables (the worker's
// messages, the inbox's conversations, inbound's webhook payloads, …), the
// consent ledger's proofs are pseudonymised and their opt-in codes deleted,
// name and attributes are emptied, events lose their payloads, identities
// are deleted (so the same phone later makes a new subscriber) and
// external_id becomes a random pseudonym. What stays are the rows the
// figures count, keyed by the pseudonym. It returns the pseudonym.
func (s *Store) Erase(ctx context.Context, externalID string) (string, error) {
	if err := ValidExternalID("external_id", externalID); err != nil {
		return "", err
	}
	return s.erase(ctx, func(tx *sqlx.Tx) (int64, error) {
		var id int64
		if err := db.Get(ctx, tx, &id, ErrNotFound, "find subscriber", qIDByExternalID, externalID); err != nil {
			return 0, err
		}
		return id, nil
	})
}

// EraseByID is Erase for the subscriber with internal id, for callers that
// know only that (the admin UI, which also shows customers who came in
// without an external id).
func (s *Store) EraseByID(ctx context.Context, id int64) (string, error) {
	if id <= 0 {
		return "", fmt.Errorf("subscriber id %d: %w", id, ErrNotFound)
	}
	return s.erase(ctx, func(*sqlx.Tx) (int64, error) { return id, nil })
}

// erase is Erase of the subscriber find returns inside the transaction.
func (s *Store) erase(ctx context.Context, find func(tx *sqlx.Tx) (int64, error)) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pseudonym: %w", err)
	}
	pseudonym := "erased:" + hex.EncodeToString(b)
	now := s.now()
	err := db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		id, err := find(tx)
		if err != nil {
			return err
		}
		// Consent writers' lock first, before any row lock, in the order
		// consent writers take them.
		if err := consent.Lock(ctx, tx, []int64{id}); err != nil {
			return err
		}
		n, err := db.Exec(ctx, tx, "erase subscriber", qEraseSubscriber, id, pseudonym, now)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound // no such subscriber, or erased already (concurrently)
		}
		subject := Subject{ID: id}
		if subject.Identities, err = identitiesOf(ctx, tx, id); err != nil {
			return err
		}
		for _, p := range s.parts {
			if p.Erase == nil {
				continue
			}
			if err := p.Erase(ctx, tx, subject, pseudonym, now); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
		}
		if err := consent.EraseSubscriber(ctx, tx, id, pseudonym); err != nil {
			return err
		}
		// Who erased is kept; whom, only as the pseudonym.
		if err := audit.Pseudonymise(ctx, tx, id, pseudonym); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, now, audit.Event{Action: "subscriber.erase", Subject: pseudonym, SubscriberID: id}); err != nil {
			return err
		}
		for _, st := range []struct{ what, query string }{
			{"identities", qEraseIdentities},
			{"events", qEraseEvents},
		} {
			if err := db.Erase(ctx, tx, st.what, st.query, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return pseudonym, nil
}

// identitiesOf returns the identities of subscriber id.
func identitiesOf(ctx context.Context, q db.Executor, id int64) ([]Identity, error) {
	subs := []Subscriber{{ID: id}}
	if err := attachIdentities(ctx, q, subs); err != nil {
		return nil, err
	}
	return subs[0].Identities, nil
}

// Export is everything held about one subscriber, for an access request.
type Export struct {
	Subscriber Subscriber      `json:"subscriber"` // profile, attributes and identities
	Events     json.RawMessage `json:"events"`
	Consent    consent.Export  `json:"consent"` // ledger with proof, opt-in codes
	// Parts are the sections of the other packages (messages, conversations,
	// replies, webhook events), by Part.Name.
	Parts map[string]any `json:"parts"`
}

// Export reads everything held about the live subscriber externalID, each
// section by the package that owns it, in one transaction.
func (s *Store) Export(ctx context.Context, externalID string) (Export, error) {
	var out Export
	if err := ValidExternalID("external_id", externalID); err != nil {
		return out, err
	}
	err := db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		sub, err := s.load(ctx, tx, qGetByExternalID, externalID)
		if err != nil {
			return err
		}
		out = Export{Subscriber: sub, Parts: map[string]any{}}
		if out.Events, err = db.Export(ctx, tx, "events", qExportEvents, sub.ID); err != nil {
			return err
		}
		if out.Consent, err = consent.ExportSubscriber(ctx, tx, sub.ID); err != nil {
			return err
		}
		subject := Subject{ID: sub.ID, Identities: sub.Identities}
		for _, p := range s.parts {
			if p.Export == nil {
				continue
			}
			v, err := p.Export(ctx, tx, subject)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			if v != nil {
				out.Parts[p.Name] = v
			}
		}
		return audit.Record(ctx, tx, s.now(), audit.Event{Action: "subscriber.export", Subject: externalID, SubscriberID: sub.ID})
	})
	return out, err
}
