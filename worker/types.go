package worker

import (
	"context"
	"sync"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
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

// PolicyGate is policy.Store.LoadMany + policy.Decide: one set-based load for
// the whole chunk, then a pure decision per subscriber.
type PolicyGate struct{}

// Decide implements Gate.
func (PolicyGate) Decide(ctx context.Context, q db.Executor, ids []int64, def *campaigns.Definition, template string,
	candidates []channels.Kind, now time.Time) (map[int64]policy.Decision, error) {
	ins, err := policy.NewStore(q).LoadMany(ctx, ids, def.Topic, def.Settings, now)
	if err != nil {
		return nil, err
	}
	okOutside := templates.OutsideWindow(def, template, "")
	out := make(map[int64]policy.Decision, len(ids))
	for _, id := range ids {
		in, ok := ins[id]
		if !ok {
			out[id] = policy.Decision{Reason: policy.ReasonNoIdentity}
			continue
		}
		in.OutsideWindowOK = okOutside
		out[id] = policy.Decide(in, candidates)
	}
	return out, nil
}

// Renderer renders a template; *templates.Renderer implements it.
type Renderer interface {
	Render(version string, def *campaigns.Definition, name string, ch channels.Kind, d templates.Data) (templates.Rendered, error)
}

// Subscriber is what rendering and local-time steps need.
type Subscriber struct {
	ID         int64          `db:"id"`
	ExternalID string         `db:"external_id"`
	Name       string         `db:"name"`
	Locale     string         `db:"locale"`
	TimeZone   string         `db:"time_zone"`
	Attributes map[string]any `db:"-"`
	AttrsJSON  []byte         `db:"attributes"`
}

// Location returns the subscriber's zone (UTC when unknown).
func (s Subscriber) Location() *time.Location { return zone(s.TimeZone) }

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

// zones caches loaded locations: time.LoadLocation reads the zone database
// on every call, and a claim asks once per run.
var zones sync.Map // name → *time.Location

func zone(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = time.UTC
	}
	zones.Store(name, loc)
	return loc
}

// templateSubscriber is the subscriber as templates see it.
func (s Subscriber) templateSubscriber() templates.Subscriber {
	return templates.Subscriber{ID: s.ID, ExternalID: s.ExternalID, Name: s.Name, Locale: s.Locale,
		TimeZone: s.TimeZone, Attributes: s.Attributes}
}

// Content is a rendered message as stored in messages.content.
type Content struct {
	Text     string                `json:"text"`
	Format   channels.Format       `json:"format,omitempty"`
	Subject  string                `json:"subject,omitempty"`
	HTML     string                `json:"html,omitempty"`
	ImageURL string                `json:"image,omitempty"`
	Buttons  []channels.Button     `json:"buttons,omitempty"`
	Template *channels.TemplateRef `json:"template,omitempty"`
	Tag      string                `json:"tag,omitempty"`
	Locale   string                `json:"locale,omitempty"`
	Segments int                   `json:"segments,omitempty"`
}

func contentOf(r templates.Rendered) Content {
	return Content{Text: r.Text, Format: r.Format, Subject: r.Subject, HTML: r.HTML, ImageURL: r.ImageURL,
		Buttons: r.Buttons, Template: r.Template, Tag: r.Tag, Locale: r.Locale, Segments: r.Segments}
}

// BatchSender is implemented by senders that accept many messages in one
// call (the sandbox; bulk email/SMS APIs). errs[i] is the error for msgs[i].
type BatchSender interface {
	SendBatch(ctx context.Context, msgs []channels.Message) (res []channels.Result, errs []error)
}
