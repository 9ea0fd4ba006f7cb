package cli

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels/sandbox"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/inbound"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/worker"
)

// subscriberParts are the packages' shares of one subscriber's data, which
// subscribers cannot import: each scrubs and exports the tables it owns.
// Order matters for erasure: inbound and the sandbox find a subscriber's rows
// through their messages' provider ids and keys, which the worker scrubs.
func subscriberParts() []subscribers.Part {
	return []subscribers.Part{
		{Name: "inbound_events",
			Erase: func(ctx context.Context, q db.Executor, s subscribers.Subject, pseudonym string, _ time.Time) error {
				return inbound.EraseSubscriber(ctx, q, s.ID, pseudonym, s.Identities)
			},
			Export: func(ctx context.Context, q db.Executor, s subscribers.Subject) (any, error) {
				return inbound.ExportSubscriber(ctx, q, s.ID, s.Identities)
			}},
		{Name: "sandbox",
			Erase: func(ctx context.Context, q db.Executor, s subscribers.Subject, _ string, _ time.Time) error {
				var chans, addrs []string
				for _, id := range s.Identities {
					chans, addrs = append(chans, string(id.Channel)), append(addrs, id.Address)
				}
				return sandbox.EraseSubscriber(ctx, q, s.ID, chans, addrs)
			}},
		subscribers.PartByID("inbox", inbox.EraseSubscriber, inbox.ExportSubscriber),
		subscribers.PartByID("links", links.EraseSubscriber, links.ExportSubscriber),
		subscribers.PartByID("invoices", payments.EraseSubscriber, payments.ExportSubscriber),
		{Name: "messages",
			Erase: func(ctx context.Context, q db.Executor, s subscribers.Subject, _ string, at time.Time) error {
				return worker.EraseSubscriber(ctx, q, s.ID, at)
			},
			Export: func(ctx context.Context, q db.Executor, s subscribers.Subject) (any, error) {
				return worker.ExportSubscriber(ctx, q, s.ID)
			}},
		// Last: events reported while the parts above were scrubbed are
		// pseudonymised too.
		{Name: "webhook_events",
			Erase: func(ctx context.Context, q db.Executor, s subscribers.Subject, pseudonym string, _ time.Time) error {
				return hooks.Pseudonymise(ctx, q, s.ID, pseudonym)
			},
			Export: func(ctx context.Context, q db.Executor, s subscribers.Subject) (any, error) {
				return hooks.Export(ctx, q, s.ID)
			}},
	}
}

// subscriberStore is the subscriber store with every part wired, on the clock now.
func subscriberStore(d *sqlx.DB, now func() time.Time) *subscribers.Store {
	return subscribers.NewStore(d, now).WithParts(subscriberParts()...)
}
