package campaigns

import (
	"sort"

	"github.com/nudge-engine/nudge/consent"
)

// This file is the campaign format: the Go shape of a campaign YAML file. The
// loader fills it (with positions kept aside for lint), the runtime executes
// it. Field names here are the YAML keys.

// Topic says which consent a campaign needs; package consent owns it.
type Topic = consent.Topic

const (
	TopicService   = consent.TopicService
	TopicMarketing = consent.TopicMarketing
)

// Definition is one campaign file.
type Definition struct {
	// Kind is "campaign" or absent; a segment file says kind: segment (Segment).
	Kind  string `yaml:"kind,omitempty" json:"kind,omitempty"`
	ID    string `yaml:"id" json:"id"`
	Name  string `yaml:"name" json:"name"`
	Topic Topic  `yaml:"topic" json:"topic"`
	// Attributes declares the subscriber attributes the templates read, by
	// name and type (see Fields); lint renders every template against a
	// sample of them.
	Attributes Fields              `yaml:"attributes,omitempty" json:"attributes,omitempty"`
	Audience   Audience            `yaml:"audience" json:"audience"`
	Trigger    Trigger             `yaml:"trigger" json:"trigger"`
	Settings   Settings            `yaml:"settings" json:"settings"`
	Steps      []Step              `yaml:"steps" json:"steps"`
	Templates  map[string]Template `yaml:"templates" json:"templates"`
	// Links says how the links in the campaign's messages are tracked
	// (package links); nil = tracked with the default UTM parameters.
	Links *Links `yaml:"links,omitempty" json:"links,omitempty"`
}

// Links is a campaign's link tracking: whether the http(s) links of its
// messages become signed /l/<code> redirects, and what the redirect adds.
type Links struct {
	// Track false sends links as written: no redirect, no click, no UTM.
	Track *bool `yaml:"track,omitempty" json:"track,omitempty"`
	// UTM overrides the default UTM parameters; an empty field keeps its default.
	UTM UTM `yaml:"utm,omitempty" json:"utm,omitempty"`
	// Attribution false leaves nudge_click=<code> off the redirect's target.
	Attribution *bool `yaml:"attribution,omitempty" json:"attribution,omitempty"`
}

// UTM parameters a tracked link's redirect adds to its target (a parameter
// the link already has is kept as written).
type UTM struct {
	Source   string `yaml:"source,omitempty" json:"source,omitempty"`     // default nudge
	Medium   string `yaml:"medium,omitempty" json:"medium,omitempty"`     // default the channel
	Campaign string `yaml:"campaign,omitempty" json:"campaign,omitempty"` // default the campaign id
	Content  string `yaml:"content,omitempty" json:"content,omitempty"`   // default the step id
}

// TrackLinks reports whether the campaign's links are tracked (the default).
func (d *Definition) TrackLinks() bool {
	return d.Links == nil || d.Links.Track == nil || *d.Links.Track
}

// LinkAttribution reports whether a tracked link's target carries nudge_click.
func (d *Definition) LinkAttribution() bool {
	return d.Links == nil || d.Links.Attribution == nil || *d.Links.Attribution
}

// Audience selects subscribers. All conditions must hold.
type Audience struct {
	// Consent is the consent topic the subscriber must have granted on at
	// least one channel of Settings.Channels; defaults to the campaign topic.
	Consent Topic `yaml:"consent,omitempty" json:"consent,omitempty"`
	// Where filters on subscriber attributes (and locale, time_zone).
	Where []Condition `yaml:"where,omitempty" json:"where,omitempty"`
	// HasEvent / NoEvent filter on posted events within a window.
	HasEvent []EventFilter `yaml:"has_event,omitempty" json:"has_event,omitempty"`
	NoEvent  []EventFilter `yaml:"no_event,omitempty" json:"no_event,omitempty"`
	// Segment names a saved segment (kind: segment) whose members the
	// audience keeps; the other conditions narrow it further.
	Segment string `yaml:"segment,omitempty" json:"segment,omitempty"`
	// Reachable: an identity not blocked on at least one of these channels.
	Reachable []string `yaml:"reachable,omitempty" json:"reachable,omitempty"`
	// OptInSource: the consent was granted by one of these sources (widget,
	// jwt_link, dialog, import, api) on at least one channel.
	OptInSource []string `yaml:"opt_in_source,omitempty" json:"opt_in_source,omitempty"`
}

// Condition compares a subscriber field (locale, time_zone, name,
// external_id) or attribute ("plan", "address.city", "attributes.locale")
// with a value. condition.go holds the operators and their meaning.
type Condition struct {
	Attr  string `yaml:"attr" json:"attr"`
	Op    Op     `yaml:"op" json:"op"`
	Value any    `yaml:"value,omitempty" json:"value,omitempty"`
}

// EventFilter matches subscribers with (or without) an event in a window.
type EventFilter struct {
	Name   string   `yaml:"name" json:"name"`
	Within Duration `yaml:"within,omitempty" json:"within,omitempty"` // 0 = ever
	// MinCount: at least this many such events in the window (audiences and
	// segments; has_event only).
	MinCount int `yaml:"min_count,omitempty" json:"min_count,omitempty"`
	// Last: conditions on the payload of the newest such event in the window
	// (attr is a path into the payload; audiences and segments, has_event only).
	Last []Condition `yaml:"last,omitempty" json:"last,omitempty"`
}

// Trigger says when runs start. Exactly one field is set.
type Trigger struct {
	Schedule *ScheduleTrigger `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	Event    *EventTrigger    `yaml:"event,omitempty" json:"event,omitempty"`
	API      *APITrigger      `yaml:"api,omitempty" json:"api,omitempty"`
}

// ScheduleTrigger fires per cron spec (5 fields, robfig/cron syntax).
// Timezone is "subscriber" (each subscriber's own zone) or an IANA zone.
type ScheduleTrigger struct {
	Cron     string `yaml:"cron" json:"cron"`
	Timezone string `yaml:"timezone" json:"timezone"`
}

// EventTrigger starts a run Delay after an event with Name is posted.
type EventTrigger struct {
	Name  string   `yaml:"name" json:"name"`
	Delay Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	// Payload declares the event payload fields the templates read.
	Payload Fields `yaml:"payload,omitempty" json:"payload,omitempty"`
}

// APITrigger starts a run when POST /v1/campaigns/{id}/trigger is called.
type APITrigger struct {
	// Payload declares the request payload fields the templates read.
	Payload Fields `yaml:"payload,omitempty" json:"payload,omitempty"`
}

// Settings hold the campaign-wide policies.
type Settings struct {
	QuietHours   *QuietHours   `yaml:"quiet_hours,omitempty" json:"quiet_hours,omitempty"`
	FrequencyCap *FrequencyCap `yaml:"frequency_cap,omitempty" json:"frequency_cap,omitempty"`
	// Channels in preference order; the first one the subscriber has consent
	// and an identity for is used.
	Channels []string `yaml:"channels" json:"channels"`
	// Fallback ladder after the chosen channel.
	Fallback []FallbackRung `yaml:"fallback,omitempty" json:"fallback,omitempty"`
	// Accounts names the bot, page or number to send through per channel
	// (accounts: {telegram: brand-b}); a channel not named uses
	// channels.DefaultAccount. A subscriber is reached on a channel only
	// through an identity of that account.
	Accounts map[string]string `yaml:"accounts,omitempty" json:"accounts,omitempty"`
	// HoldoutPercent of the audience gets no messages (goal uplift is measured against them).
	HoldoutPercent float64 `yaml:"holdout_percent,omitempty" json:"holdout_percent,omitempty"`
	// SendDuringHandoff lets this campaign's messages go out while a manager
	// conversation is open (default: service yes, marketing no).
	SendDuringHandoff *bool `yaml:"send_during_handoff,omitempty" json:"send_during_handoff,omitempty"`
	// OnUnknown is what a worker does with a message a crashed worker left in
	// flight to a provider that does not deduplicate (Telegram, Viber, …):
	// OnUnknownMark (the default) records it unknown and sends nothing, as a
	// second copy may reach the customer; OnUnknownResend sends it again.
	OnUnknown string `yaml:"on_unknown,omitempty" json:"on_unknown,omitempty"`
}

// The values of Settings.OnUnknown.
const (
	OnUnknownMark   = "mark"
	OnUnknownResend = "resend"
)

// QuietHours in the subscriber's local time ("22:00" to "09:00"); sends are
// deferred to the end, never dropped.
type QuietHours struct {
	Start string `yaml:"start" json:"start"`
	End   string `yaml:"end" json:"end"`
}

// FrequencyCap: at most Max messages of this topic per Per.
type FrequencyCap struct {
	Max int      `yaml:"max" json:"max"`
	Per Duration `yaml:"per" json:"per"`
}

// FallbackRung: send on Channel when the previous message has no IfNot status
// (delivered | read) within Within, or failed permanently.
type FallbackRung struct {
	Channel string   `yaml:"channel" json:"channel"`
	IfNot   string   `yaml:"if_not" json:"if_not"`
	Within  Duration `yaml:"within" json:"within"`
}

// Step is one node of the flow. ID is required; exactly one action is set.
// Next defaults to the following step in the list (the run ends after the last).
type Step struct {
	ID   string `yaml:"id" json:"id"`
	Next string `yaml:"next,omitempty" json:"next,omitempty"`

	Send      *SendStep      `yaml:"send,omitempty" json:"send,omitempty"`
	Wait      *WaitStep      `yaml:"wait,omitempty" json:"wait,omitempty"`
	WaitReply *WaitReplyStep `yaml:"wait_reply,omitempty" json:"wait_reply,omitempty"`
	Branch    *BranchStep    `yaml:"branch,omitempty" json:"branch,omitempty"`
	Split     *SplitStep     `yaml:"split,omitempty" json:"split,omitempty"`
	Handoff   *HandoffStep   `yaml:"handoff,omitempty" json:"handoff,omitempty"`
	Set       *SetStep       `yaml:"set,omitempty" json:"set,omitempty"`
	Goal      *GoalStep      `yaml:"goal,omitempty" json:"goal,omitempty"`
	End       *EndStep       `yaml:"end,omitempty" json:"end,omitempty"`
}

// SendStep sends the named template.
type SendStep struct {
	Template string `yaml:"template" json:"template"`
}

// WaitStep pauses for a duration, or until a local time (optionally on a weekday):
// until: "18:00" or "fri 18:00", in the subscriber's zone.
type WaitStep struct {
	For   Duration `yaml:"for,omitempty" json:"for,omitempty"`
	Until string   `yaml:"until,omitempty" json:"until,omitempty"`
}

// WaitReplyStep waits for the subscriber's reply to the previous send.
type WaitReplyStep struct {
	Timeout   Duration      `yaml:"timeout" json:"timeout"`
	Branches  []ReplyBranch `yaml:"branches" json:"branches"`
	OnTimeout string        `yaml:"on_timeout,omitempty" json:"on_timeout,omitempty"` // step id; default: next
	// OnOther is where an unmatched reply goes (default: hand-off to the inbox).
	OnOther string `yaml:"on_other,omitempty" json:"on_other,omitempty"`
	// OnUnsure is where a reply goes whose sentiment the classifier is not
	// sure of, when no button or keyword branch took it: a step id, or
	// OnUnsureHandoff for the inbox (default: on_other).
	OnUnsure string `yaml:"on_unsure,omitempty" json:"on_unsure,omitempty"`
}

// OnUnsureHandoff as a wait_reply's on_unsure hands an unsure reply to a
// manager instead of a step.
const OnUnsureHandoff = "handoff"

// ReplyBranch matches a reply by button id, keywords (whole words,
// case-insensitive) or classified sentiment (positive | negative | neutral);
// the first matching branch wins, and a button press decides before text.
type ReplyBranch struct {
	Button    string   `yaml:"button,omitempty" json:"button,omitempty"`
	Keywords  []string `yaml:"keywords,omitempty" json:"keywords,omitempty"`
	Sentiment string   `yaml:"sentiment,omitempty" json:"sentiment,omitempty"`
	Goto      string   `yaml:"goto" json:"goto"`
}

// BranchStep goes to the first case whose conditions all hold, else Else.
type BranchStep struct {
	Cases []BranchCase `yaml:"cases" json:"cases"`
	Else  string       `yaml:"else,omitempty" json:"else,omitempty"`
}

// BranchCase is one arm of a branch.
type BranchCase struct {
	Where    []Condition   `yaml:"where,omitempty" json:"where,omitempty"`
	HasEvent []EventFilter `yaml:"has_event,omitempty" json:"has_event,omitempty"`
	Goto     string        `yaml:"goto" json:"goto"`
}

// SplitStep sends each subscriber down one of weighted variants (an A/B
// test). The choice is a hash of the campaign version, the step and the
// subscriber (SplitStep.Pick), not a stored coin toss: a subscriber takes
// the same variant every time within one version. The run records it in its
// context under "split" (step id → variant id) for the funnel per variant.
type SplitStep struct {
	Variants []SplitVariant `yaml:"variants" json:"variants"`
}

// SplitVariant is one arm of a split: its share is Weight over the sum of
// the split's weights.
type SplitVariant struct {
	ID     string  `yaml:"id" json:"id"`
	Weight float64 `yaml:"weight" json:"weight"`
	Goto   string  `yaml:"goto" json:"goto"`
}

// HandoffStep hands the conversation to a manager queue; the run waits until
// a manager resolves it, then continues at Next (or ends with Then: end).
type HandoffStep struct {
	Queue string `yaml:"queue" json:"queue"`
	Note  string `yaml:"note,omitempty" json:"note,omitempty"`
}

// SetStep sets subscriber attributes.
type SetStep struct {
	Attributes map[string]any `yaml:"attributes" json:"attributes"`
}

// GoalStep records a conversion when Event is posted within Within of reaching
// this step; the run waits for it (or the window) before going on.
type GoalStep struct {
	Event  string   `yaml:"event" json:"event"`
	Within Duration `yaml:"within" json:"within"`
}

// EndStep ends the run.
type EndStep struct{}

// Template is a message with a variant per channel and per locale:
// channel ("telegram", …, or "default") → locale ("ru", "en") → Variant.
type Template map[string]map[string]Variant

// Variant is the content for one channel and locale. Text is a Go
// text/template over the subscriber and run context.
type Variant struct {
	Text    string `yaml:"text" json:"text"`
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"` // email
	HTML    string `yaml:"html,omitempty" json:"html,omitempty"`       // email
	Image   string `yaml:"image,omitempty" json:"image,omitempty"`
	// Images is an album (a weekly menu with photos): sent together where
	// the channel has albums or carousels, else the first as the image and
	// the others as links (channels.MediaLimitsOf).
	Images []string `yaml:"images,omitempty" json:"images,omitempty"`
	// Document is a file sent with the message (a PDF receipt).
	Document *Document `yaml:"document,omitempty" json:"document,omitempty"`
	Buttons  []Button  `yaml:"buttons,omitempty" json:"buttons,omitempty"`
	// WhatsAppTemplate / Tag: what to use outside a 24h window.
	WhatsAppTemplate *WhatsAppTemplate `yaml:"whatsapp_template,omitempty" json:"whatsapp_template,omitempty"`
	Tag              string            `yaml:"tag,omitempty" json:"tag,omitempty"`
}

// Button is a reply button (ID is the payload matched by wait_reply) or a link.
type Button struct {
	ID   string `yaml:"id,omitempty" json:"id,omitempty"`
	Text string `yaml:"text" json:"text"`
	URL  string `yaml:"url,omitempty" json:"url,omitempty"`
	// Pay makes the button a payment: a Telegram invoice, a link (URL) to
	// the shop's payment page elsewhere (see Pay).
	Pay *Pay `yaml:"pay,omitempty" json:"pay,omitempty"`
}

// Document is a file named by its URL (a text/template), with the name the
// customer sees (default: the URL's last path element).
type Document struct {
	URL  string `yaml:"url" json:"url"`
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// WhatsAppTemplate names an approved WhatsApp template with its parameters
// (each a text/template).
type WhatsAppTemplate struct {
	Name     string   `yaml:"name" json:"name"`
	Language string   `yaml:"language" json:"language"`
	Params   []string `yaml:"params,omitempty" json:"params,omitempty"`
	// Carousel says the template is a media card carousel: the variant's
	// images fill its cards' headers (as many as the template has cards).
	Carousel bool `yaml:"carousel,omitempty" json:"carousel,omitempty"`
	// Cards give a carousel's cards their body parameters, in card order.
	Cards []TemplateCard `yaml:"cards,omitempty" json:"cards,omitempty"`
}

// TemplateCard is one card of a media card carousel template: the
// parameters of its body (each a text/template).
type TemplateCard struct {
	Params []string `yaml:"params,omitempty" json:"params,omitempty"`
}

// ButtonLabel is the text of the reply button id that the customer pressed
// at step stepID (a send, or the wait_reply after one): the variant of the
// nearest send at or before the step, on channel in locale if it has one,
// else the channel's or the default variant in any locale. "" when no send
// offers such a button.
func (d *Definition) ButtonLabel(stepID, id, channel, locale string) string {
	if d == nil || id == "" {
		return ""
	}
	at := d.StepIndex(stepID)
	if at < 0 {
		at = len(d.Steps) - 1
	}
	order := make([]int, 0, len(d.Steps))
	for i := at; i >= 0; i-- {
		order = append(order, i)
	}
	for i := at + 1; i < len(d.Steps); i++ {
		order = append(order, i)
	}
	for _, i := range order {
		s := d.Steps[i]
		if s.Send == nil {
			continue
		}
		if l := d.Templates[s.Send.Template].buttonLabel(id, channel, locale); l != "" {
			return l
		}
	}
	return ""
}

func (t Template) buttonLabel(id, channel, locale string) string {
	find := func(v Variant) string {
		for _, b := range v.Buttons {
			if b.ID == id {
				return b.Text
			}
		}
		return ""
	}
	for _, ch := range []string{channel, "default"} {
		byLocale := t[ch]
		if l := find(byLocale[locale]); l != "" {
			return l
		}
		locales := make([]string, 0, len(byLocale))
		for l := range byLocale {
			locales = append(locales, l)
		}
		sort.Strings(locales)
		for _, l := range locales {
			if s := find(byLocale[l]); s != "" {
				return s
			}
		}
	}
	return ""
}
