package worker

import (
	"context"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// Decision is the send-time policy verdict for one subscriber (the shape of
// policy.Decision).
type Decision struct {
	Send          bool
	Channel       channels.Kind
	Address       string
	DeferUntil    time.Time // non-zero: try again then (quiet hours)
	Reason        string    // when !Send: no_consent | no_identity | blocked | quiet_hours | frequency_cap | handoff_open | window_closed
	OutsideWindow bool
}

// Gate decides, on fresh data read through q, whether and where each
// subscriber may be sent a message of the campaign now.
type Gate interface {
	Decide(ctx context.Context, q db.Executor, subscriberIDs []int64, topic campaigns.Topic,
		st campaigns.Settings, candidates []channels.Kind, now time.Time) (map[int64]Decision, error)
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
func (s Subscriber) Location() *time.Location {
	if loc, err := time.LoadLocation(s.TimeZone); err == nil && s.TimeZone != "" {
		return loc
	}
	return time.UTC
}

// RenderData is the input of a template.
type RenderData struct {
	Subscriber Subscriber
	Payload    map[string]any
	Now        time.Time
	CampaignID string
}

// Content is a rendered message (the shape of templates.Rendered).
type Content struct {
	Text     string                `json:"text"`
	Format   channels.Format       `json:"format,omitempty"`
	Subject  string                `json:"subject,omitempty"`
	HTML     string                `json:"html,omitempty"`
	ImageURL string                `json:"image,omitempty"`
	Buttons  []channels.Button     `json:"buttons,omitempty"`
	Template *channels.TemplateRef `json:"template,omitempty"`
	Tag      string                `json:"tag,omitempty"`
}

// Renderer renders template name of a campaign version for channel ch.
type Renderer interface {
	Render(version string, def *campaigns.Definition, name string, ch channels.Kind, d RenderData) (Content, error)
}

// BatchSender is implemented by senders that accept many messages in one
// call (the sandbox; bulk email/SMS APIs). errs[i] is the error for msgs[i].
type BatchSender interface {
	SendBatch(ctx context.Context, msgs []channels.Message) (res []channels.Result, errs []error)
}
