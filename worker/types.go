package worker

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/payments"
	"github.com/nudge-engine/nudge/policy"
	"github.com/nudge-engine/nudge/templates"
)

// Gate decides, on fresh data read through q, whether and where each
// subscriber may be sent template of def now. PolicyGate is the production
// implementation; tests may pass a hand-written fake.
type Gate interface {
	Decide(ctx context.Context, q db.Executor, subscriberIDs []int64, def *campaigns.Definition, template string,
		candidates []channels.Kind, now time.Time) (map[int64]policy.Decision, error)
}

// PolicyGate is policy.DecideMany: one set-based load for the whole chunk,
// then a pure decision per subscriber (the same function a broadcast's dry
// run counts with).
type PolicyGate struct{}

// Decide implements Gate.
func (PolicyGate) Decide(ctx context.Context, q db.Executor, ids []int64, def *campaigns.Definition, template string,
	candidates []channels.Kind, now time.Time) (map[int64]policy.Decision, error) {
	return policy.DecideMany(ctx, q, ids, def, template, candidates, now)
}

// Handoffs records a run's hand-off to a person in q, the step's
// transaction, which pauses the run; the inbox owns hand-offs and implements
// it (inbox.Handoffs), so the worker need not import the inbox.
type Handoffs interface {
	HandOff(ctx context.Context, q db.Executor, runID int64, stepID string, seq int, queue, note string, at time.Time) error
}

// Renderer renders a template; *templates.Renderer implements it.
type Renderer interface {
	Render(version string, def *campaigns.Definition, name string, ch channels.Kind, d templates.Data) (templates.Rendered, error)
}

// Linker turns the links of a composed campaign message into tracked
// redirects; *links.Service implements it.
type Linker interface {
	Rewrite(ctx context.Context, def *campaigns.Definition, m links.Message, r templates.Rendered) (templates.Rendered, error)
}

// Invoicer records the invoices of a composed campaign message's pay
// buttons and gives them their payloads; *payments.Service implements it.
type Invoicer interface {
	Issue(ctx context.Context, m payments.Message, r templates.Rendered) (templates.Rendered, error)
}

// Subscriber is the subscriber as templates and branch conditions see it
// (loaded by subscribers.ForTemplates).
type Subscriber = templates.Subscriber

// runToMove is a run as a reply or a resolved hand-off finds it (qRunToMove).
type runToMove struct {
	Campaign string `db:"campaign_id"`
	Version  string `db:"campaign_version"`
	Sub      int64  `db:"subscriber_id"`
	Step     string `db:"step_id"`
	Seq      int    `db:"step_seq"`
	State    string `db:"state"`
	TimeZone string `db:"time_zone"`
}

// zone is the named location (UTC when empty or unknown), cached.
func zone(name string) *time.Location { return templates.Zone(name) }

// BatchSender is implemented by senders that accept many messages in one
// call (the sandbox; bulk email/SMS APIs). errs[i] is the error for msgs[i].
type BatchSender interface {
	SendBatch(ctx context.Context, msgs []channels.Message) (res []channels.Result, errs []error)
}
