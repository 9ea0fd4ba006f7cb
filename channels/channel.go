package channels

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind names a channel.
type Kind string

const (
	Telegram  Kind = "telegram"
	Viber     Kind = "viber"
	WhatsApp  Kind = "whatsapp"
	Messenger Kind = "messenger"
	Instagram Kind = "instagram"
	VK        Kind = "vk"
	SMS       Kind = "sms"
	Email     Kind = "email"
	Sandbox   Kind = "sandbox"
)

// Kinds lists every channel in a stable order.
var Kinds = []Kind{Telegram, Viber, WhatsApp, Messenger, Instagram, VK, SMS, Email, Sandbox}

// Valid reports whether k is a known channel.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Format says how Message.Text is marked up; templates escape for it.
type Format string

const (
	Plain Format = "plain"
	HTML  Format = "html" // Telegram HTML parse mode; email HTML part
)

// Button is a reply button (ID comes back as the press payload) or a link (URL).
type Button struct {
	ID   string `json:"id,omitempty"`
	Text string `json:"text"`
	URL  string `json:"url,omitempty"`
	// Pay is the invoice of a pay button on a channel with in-chat payments.
	Pay *Invoice `json:"pay,omitempty"`
}

// TemplateRef names a provider-approved template (WhatsApp) for sends outside
// the 24h window.
type TemplateRef struct {
	Name     string   `json:"name"`
	Language string   `json:"language"`
	Params   []string `json:"params,omitempty"`
	// Carousel marks a media card carousel template: the message's Images
	// fill its cards' image headers, one card each, in order.
	Carousel bool `json:"carousel,omitempty"`
	// Cards are the body parameters of each carousel card, in card order.
	Cards [][]string `json:"cards,omitempty"`
}

// Message is one rendered outbound message for one recipient.
type Message struct {
	// IdempotencyKey is deterministic per intent (run, step, channel attempt).
	// Adapters pass it to the provider where it dedupes (VK random_id) and
	// fakes use it to prove no duplicate was sent.
	IdempotencyKey string
	Channel        Kind
	Account        string // which bot/page/number of this channel; "" = default
	To             string // chat id, Viber id, E.164 phone, PSID, IGSID, VK peer id, email address
	Text           string
	Format         Format
	Subject        string // email
	HTML           string // email HTML part (Text is the plain part)
	ImageURL       string
	// Images is an album (two or more images, MediaLimitsOf(Channel)
	// allowing); ImageURL is then empty. Text goes as the caption where
	// it fits the channel's AlbumCaption, else in or after the album.
	Images []string
	// Document is a file sent with the message on channels whose
	// MediaLimits.Documents is set; elsewhere templates fold it into a link.
	Document       *DocumentRef
	Buttons        []Button
	Template       *TemplateRef // WhatsApp outside the 24h window
	Tag            string       // Messenger/Instagram message tag outside the 24h window (HUMAN_AGENT, …)
	Correlation    string       // opaque value the provider echoes back (WhatsApp biz_opaque_callback_data, Viber tracking_data)
	UnsubscribeURL string       // email List-Unsubscribe (RFC 8058 one-click)
	// SkipParts is how many leading parts of a multi-part send (an album
	// and then the text, a document and then the text) an earlier try
	// delivered: the adapter sends from the next one (SendParts).
	SkipParts int `json:"-"`
}

// Result is what a provider said when it accepted a message.
type Result struct {
	ProviderID string // provider message id; statuses refer to it
	Segments   int    // SMS segments billed, 0 elsewhere
	SentAt     time.Time
}

// ErrorKind classifies a send failure so the worker knows what to do.
type ErrorKind string

const (
	Blocked      ErrorKind = "blocked"       // the user blocked us: revoke consent for that channel
	NotReachable ErrorKind = "not_reachable" // no such user/number here: try the next channel
	RateLimited  ErrorKind = "rate_limited"  // retry after Error.RetryAfter
	WindowClosed ErrorKind = "window_closed" // needs a template or tag
	Transient    ErrorKind = "transient"     // network, 5xx: retry with backoff
	Invalid      ErrorKind = "invalid"       // permanent: record and stop
)

// Error is a classified send failure.
type Error struct {
	Kind       ErrorKind
	Code       string        // provider code, e.g. "403", "131047", "21610"
	Message    string        // provider description
	RetryAfter time.Duration // for RateLimited
	// PartsSent is how many leading parts of a multi-part send reached the
	// customer before this failure (SendParts); a retry passes it back as
	// Message.SkipParts so the customer gets each part once.
	PartsSent int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s): %s", e.Kind, e.Code, e.Message)
}

// KindOf returns the kind of a send error; unclassified errors are Transient.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}

// Sender sends one message through a provider.
type Sender interface {
	Kind() Kind
	Send(ctx context.Context, m Message) (Result, error)
}

// EventType is what an inbound webhook event means to Nudge.
type EventType string

const (
	EventText      EventType = "text"      // the user wrote something
	EventButton    EventType = "button"    // the user pressed a reply button (Payload)
	EventStart     EventType = "start"     // opt-in start: /start CODE, Viber context, ref (Code may be empty), or a WhatsApp text with a code in it (Text)
	EventOptOut    EventType = "opt_out"   // provider-level unsubscribe (Viber unsubscribed, STOP via Twilio, VK message_deny)
	EventDelivered EventType = "delivered" // status of an outbound message
	EventRead      EventType = "read"
	EventFailed    EventType = "failed"
	EventBlocked   EventType = "blocked" // Telegram my_chat_member kicked
	EventUnblocked EventType = "unblocked"
)

// Event is one provider webhook event, normalised.
type Event struct {
	Type    EventType
	Channel Kind
	Account string
	// ProviderEventID dedupes redeliveries of the same provider event
	// (update_id, message_token, wamid+status, mid, …).
	ProviderEventID string
	From            string // sender address (same space as Message.To)
	Name            string // sender display name when the provider gives one
	Locale          string // sender language when the provider gives one
	Text            string
	Payload         string // button id
	// Label is the pressed button's text when the provider sends it with
	// the press (Telegram's callback_query carries the message's keyboard).
	Label string `json:",omitempty"`
	// Attachments are the files the user sent (photos, voice notes,
	// documents); the inbox fetches them through the provider.
	Attachments []Attachment `json:",omitempty"`
	Code        string       // opt-in code from a start
	// For statuses: the outbound message's provider id, or a watermark time
	// meaning "every message to From sent up to this time" (Messenger, VK).
	ProviderMessageID string
	Watermark         time.Time
	Correlation       string
	ErrorKind         ErrorKind
	ErrorCode         string
	ErrorMessage      string
	// At is when the engine received the event, on its injected clock: the
	// inbound sink stamps it, and every decision (windows, fallbacks, reply
	// times) uses it. ProviderAt is the provider's own timestamp, recorded
	// as a fact and never used to decide: providers' clocks and the
	// engine's (simulated in tests and the demo) need not agree.
	At         time.Time
	ProviderAt time.Time
	Raw        []byte // the provider's JSON for this event, for audit
}

// Ack is what the sink lets an adapter put in its synchronous webhook answer.
type Ack struct {
	// Welcome is a text for providers that accept one reply in the webhook
	// response (Viber conversation_started).
	Welcome string
}

// Sink receives parsed events and must persist them before returning nil;
// webhooks answer 2xx only after that.
type Sink interface {
	Accept(ctx context.Context, events []Event) (Ack, error)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, events []Event) (Ack, error)

// Accept calls f.
func (f SinkFunc) Accept(ctx context.Context, events []Event) (Ack, error) { return f(ctx, events) }

// Webhook is an adapter's inbound side: it verifies authenticity before it
// reads anything, parses, hands events to the sink, and answers the provider.
type Webhook interface {
	http.Handler
}
