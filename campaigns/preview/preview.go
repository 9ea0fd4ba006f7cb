// Package preview shows what one subscriber would receive from a campaign
// step right now (or at a given time): whether the subscriber is in the
// campaign's audience, the channel the send-time gate would pick and why,
// the rendered text, buttons and image, or why nothing would be sent. It
// runs the same code as the scheduler and the worker:
// scheduler.AudienceWhere, policy.Store.Load, policy.Decide and
// templates.Renderer.Render, without sending or writing.
package preview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/whatsapp/catalogue"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/policy"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/templates"
)

// Errors callers branch on.
var (
	ErrNoSubscriber = errors.New("no subscriber with that external id")
	ErrNoStep       = errors.New("no such send step")
)

const (
	// The newest event of the trigger's name gives the payload an event
	// trigger would carry.
	qLastEvent = `SELECT payload FROM subscriber_events WHERE subscriber_id = $1 AND name = $2 AND occurred_at <= $3
	               ORDER BY occurred_at DESC, id DESC LIMIT 1`
)

// Previewer builds previews.
type Previewer struct {
	Campaigns *campaigns.Store
	DB        db.Executor
	Renderer  *templates.Renderer
	Now       func() time.Time
}

// New returns a previewer reading through q.
func New(cs *campaigns.Store, q db.Executor, r *templates.Renderer, now func() time.Time) *Previewer {
	now = clock.NowOr(now)
	if r == nil {
		r = templates.NewRenderer()
	}
	return &Previewer{Campaigns: cs, DB: q, Renderer: r, Now: now}
}

// Request says what to preview.
type Request struct {
	CampaignID string
	Version    string // "" = current; a number or a hash
	Subscriber string // external id
	Channel    channels.Kind
	Step       string // a send step id; "" = the first send step
	At         time.Time
	// Payload overrides the trigger payload (api triggers, or to try values);
	// nil = the subscriber's newest event of an event trigger's name.
	Payload map[string]any
}

// Subscriber is the part of the subscriber a preview shows.
type Subscriber struct {
	ExternalID string `json:"external_id"`
	Name       string `json:"name"`
	Locale     string `json:"locale"`
	TimeZone   string `json:"time_zone"`
}

// Rejection is a candidate channel that was passed over.
type Rejection struct {
	Channel channels.Kind `json:"channel"`
	Reason  string        `json:"reason"`
	Why     string        `json:"why"`
}

// Message is the rendered message.
type Message struct {
	Locale   string                `json:"locale"`
	Text     string                `json:"text"`
	Format   channels.Format       `json:"format"`
	Subject  string                `json:"subject,omitempty"`
	HTML     string                `json:"html,omitempty"`
	ImageURL string                `json:"image_url,omitempty"`
	Images   []string              `json:"images,omitempty"`   // an album on this channel
	Document *channels.DocumentRef `json:"document,omitempty"` // a file on this channel
	Buttons  []channels.Button     `json:"buttons,omitempty"`
	Template *channels.TemplateRef `json:"whatsapp_template,omitempty"`
	Tag      string                `json:"tag,omitempty"`
	Segments int                   `json:"sms_segments,omitempty"`
}

// Result is a preview.
type Result struct {
	CampaignID string     `json:"campaign_id"`
	Version    string     `json:"version"`
	Number     int        `json:"number"`
	Step       string     `json:"step"`
	Template   string     `json:"template"`
	At         time.Time  `json:"at"`
	LocalTime  string     `json:"local_time"`
	Subscriber Subscriber `json:"subscriber"`

	// InAudience: the subscriber is in the campaign's audience as the
	// scheduler evaluates it; Audience lists each part.
	InAudience bool            `json:"in_audience"`
	Audience   []AudienceCheck `json:"audience,omitempty"`

	// Send: in the audience, the send-time gate lets the message go now,
	// and it renders.
	Send          bool          `json:"send"`
	Channel       channels.Kind `json:"channel,omitempty"`
	Account       string        `json:"account,omitempty"` // the bot, page or number of Channel it goes through
	Why           string        `json:"why"`
	Reason        string        `json:"reason,omitempty"`
	DeferUntil    *time.Time    `json:"defer_until,omitempty"`
	OutsideWindow bool          `json:"outside_window,omitempty"`
	Rejected      []Rejection   `json:"rejected,omitempty"`
	Fallback      []string      `json:"fallback,omitempty"`

	// Message is what would be sent on Channel (or, when no channel
	// qualifies, on the first candidate, to show the content anyway).
	Message     *Message      `json:"message,omitempty"`
	RenderedFor channels.Kind `json:"rendered_for,omitempty"`
	RenderError string        `json:"render_error,omitempty"`

	// TemplateProblems are what the synced WhatsApp catalogue says of the
	// message's template (unknown, wrong language or parameter count, not
	// approved, marketing for a service topic); TemplateUnchecked says why
	// it could not be checked.
	TemplateProblems  []string `json:"whatsapp_template_problems,omitempty"`
	TemplateUnchecked string   `json:"whatsapp_template_unchecked,omitempty"`
}

// reasons explains policy reasons in words.
var reasons = map[string]string{
	policy.ReasonNoConsent:    "no consent for this topic on that channel",
	policy.ReasonNoIdentity:   "the subscriber has no address on that channel",
	policy.ReasonBlocked:      "the subscriber blocked the bot on that channel",
	policy.ReasonQuietHours:   "quiet hours in the subscriber's local time",
	policy.ReasonFrequencyCap: "the frequency cap for this topic is reached",
	policy.ReasonHandoffOpen:  "a manager conversation is open (marketing waits)",
	policy.ReasonWindowClosed: "the 24h window is closed and the variant has no template/tag",
	policy.ReasonNoChannel:    "no candidate channel",
	policy.ReasonInvalid:      "the campaign settings are invalid",
}

// Explain returns a policy reason in words.
func Explain(reason string) string {
	if s, ok := reasons[reason]; ok {
		return s
	}
	return reason
}

// Preview builds the preview for req.
func (p *Previewer) Preview(ctx context.Context, req Request) (*Result, error) {
	st, err := p.Campaigns.Get(ctx, req.CampaignID, req.Version)
	if err != nil {
		return nil, err
	}
	def := st.Def
	step, err := sendStep(def, req.Step)
	if err != nil {
		return nil, err
	}
	sub, err := subscribers.ForTemplatesByExternalID(ctx, p.DB, req.Subscriber)
	if errors.Is(err, subscribers.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNoSubscriber, req.Subscriber)
	}
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	at := req.At
	if at.IsZero() {
		at = p.Now()
	}
	at = at.UTC()
	payload := req.Payload
	if payload == nil {
		payload = map[string]any{}
		if ev := def.Trigger.Event; ev != nil {
			var raw []byte
			err := p.DB.GetContext(ctx, &raw, qLastEvent, sub.ID, ev.Name, at)
			switch {
			case err == nil:
				if err := json.Unmarshal(raw, &payload); err != nil {
					return nil, fmt.Errorf("preview: event payload: %w", err)
				}
			case !db.IsNoRows(err):
				return nil, fmt.Errorf("preview: load event: %w", err)
			}
		}
	}

	res := &Result{
		CampaignID: st.CampaignID, Version: st.Version.Version, Number: st.Number,
		Step: step.ID, Template: step.Send.Template, At: at,
		Subscriber: Subscriber{ExternalID: sub.ExternalID, Name: sub.Name, Locale: sub.Locale, TimeZone: sub.TimeZone},
	}
	for _, r := range def.Settings.Fallback {
		res.Fallback = append(res.Fallback, fmt.Sprintf("%s if not %s within %s", r.Channel, r.IfNot, r.Within))
	}

	res.InAudience, res.Audience, err = p.audience(ctx, def, sub.ID, sub.Subject(), at)
	if err != nil {
		return nil, err
	}

	in, err := policy.NewStore(p.DB).Load(ctx, sub.ID, def.Topic, def.Settings, at)
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	if in.Location != nil {
		res.LocalTime = at.In(in.Location).Format("Mon 2006-01-02 15:04 MST")
	}
	in.OutsideWindowOK = templates.OutsideWindow(def, step.Send.Template, sub.Locale)
	candidates := policy.Candidates(def.Settings)
	if req.Channel != "" {
		candidates = []channels.Kind{req.Channel}
	}
	d := policy.Decide(in, candidates)
	res.Send, res.Channel, res.Account, res.Reason, res.OutsideWindow = d.Send, d.Channel, d.Account, d.Reason, d.OutsideWindow
	if !d.DeferUntil.IsZero() {
		du := d.DeferUntil
		res.DeferUntil = &du
	}
	for _, r := range d.Rejected {
		res.Rejected = append(res.Rejected, Rejection{Channel: r.Channel, Reason: r.Reason, Why: Explain(r.Reason)})
	}

	renderOn := d.Channel
	if renderOn == "" && len(candidates) > 0 {
		renderOn = candidates[0]
	}
	if renderOn != "" {
		data := templates.Data{
			Subscriber: sub,
			Payload:    payload, Now: at, CampaignID: st.CampaignID,
		}
		res.RenderedFor = renderOn
		m, err := p.Renderer.Render(st.Version.Version, def, step.Send.Template, renderOn, data)
		if err != nil {
			res.RenderError = err.Error()
			res.Send = false
		} else {
			res.Message = &Message{Locale: m.Locale, Text: m.Text, Format: m.Format, Subject: m.Subject, HTML: m.HTML,
				ImageURL: m.ImageURL, Images: m.Images, Document: m.Document, Buttons: m.Buttons, Template: m.Template, Tag: m.Tag, Segments: m.Segments}
			if t := m.Template; t != nil {
				c := catalogue.ForLint(ctx, p.DB)
				res.TemplateUnchecked = c.Unavailable
				use := campaigns.TemplateUse{Name: t.Name, Language: t.Language, Params: len(t.Params), Carousel: t.Carousel, Images: len(m.Images)}
				for _, c := range t.Cards {
					use.CardParams = append(use.CardParams, len(c))
				}
				for _, pr := range c.Check(def.Settings.Account("whatsapp"), use, def.Topic) {
					res.TemplateProblems = append(res.TemplateProblems, pr.Msg)
				}
			}
		}
	}
	if !res.InAudience {
		res.Send = false
	}
	res.Why = why(req, candidates, d, in.Location, res)
	return res, nil
}

// notInAudience says which parts of the audience exclude the subscriber.
func notInAudience(checks []AudienceCheck) string {
	var parts []string
	for _, c := range checks {
		if !c.Holds && !strings.HasPrefix(c.Detail, "not evaluated") {
			parts = append(parts, fmt.Sprintf("%s %s does not hold (%s)", c.Part, c.Rule, c.Detail))
		}
	}
	if len(parts) == 0 {
		return "the subscriber is not in the campaign's audience"
	}
	return "the subscriber is not in the campaign's audience: " + strings.Join(parts, "; ")
}

// why explains the preview: the audience, the send-time gate (policy) and
// the render, each when it stops the message.
func why(req Request, candidates []channels.Kind, d policy.Decision, loc *time.Location, res *Result) string {
	gate := policyWhy(req, candidates, d, loc)
	var stops []string
	if !res.InAudience {
		stops = append(stops, notInAudience(res.Audience))
	}
	if res.RenderError != "" {
		stops = append(stops, fmt.Sprintf("the message does not render on %s: %s", res.RenderedFor, res.RenderError))
	}
	if len(stops) == 0 {
		return gate
	}
	return "nothing would be sent: " + strings.Join(stops, "; ") + "; send-time gate: " + gate
}

// policyWhy explains the send-time gate's decision.
func policyWhy(req Request, candidates []channels.Kind, d policy.Decision, loc *time.Location) string {
	var b strings.Builder
	if d.Channel != "" {
		if req.Channel != "" {
			fmt.Fprintf(&b, "%s (asked for with --channel)", d.Channel)
		} else if len(d.Rejected) == 0 {
			fmt.Fprintf(&b, "%s: the first of %v, with consent and an address", d.Channel, candidates)
		} else {
			var skipped []string
			for _, r := range d.Rejected {
				skipped = append(skipped, fmt.Sprintf("%s (%s)", r.Channel, Explain(r.Reason)))
			}
			fmt.Fprintf(&b, "%s: skipped %s", d.Channel, strings.Join(skipped, ", "))
		}
		if d.OutsideWindow {
			b.WriteString("; the 24h window is closed, so the approved template / tag is sent")
		}
	}
	if d.Send {
		return b.String()
	}
	if b.Len() > 0 {
		b.WriteString("; ")
	}
	b.WriteString("nothing would be sent now: ")
	if d.Channel == "" && len(d.Rejected) > 0 {
		var parts []string
		for _, r := range d.Rejected {
			parts = append(parts, fmt.Sprintf("%s: %s", r.Channel, Explain(r.Reason)))
		}
		b.WriteString("no channel qualifies (" + strings.Join(parts, "; ") + ")")
		return b.String()
	}
	b.WriteString(Explain(d.Reason))
	if !d.DeferUntil.IsZero() {
		l := loc
		if l == nil {
			l = time.UTC
		}
		fmt.Fprintf(&b, " until %s", d.DeferUntil.In(l).Format("Mon 2006-01-02 15:04 MST"))
		b.WriteString(" (the send is deferred, not dropped)")
	}
	return b.String()
}

// sendStep finds the send step to preview.
func sendStep(def *campaigns.Definition, id string) (*campaigns.Step, error) {
	var ids []string
	for i := range def.Steps {
		s := &def.Steps[i]
		if s.Send == nil {
			continue
		}
		if id == "" || s.ID == id {
			return s, nil
		}
		ids = append(ids, s.ID)
	}
	if id == "" {
		return nil, fmt.Errorf("%w: campaign %s has no send step", ErrNoStep, def.ID)
	}
	return nil, fmt.Errorf("%w: %q (send steps: %s)", ErrNoStep, id, strings.Join(ids, ", "))
}
