package scheduler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/consent"
)

// ErrAudience is wrapped by every audience definition error.
var ErrAudience = errors.New("invalid audience")

// Args collects positional query parameters; Add returns the placeholder.
type Args struct{ vals []any }

// Add appends v and returns its placeholder ($n).
func (a *Args) Add(v any) string {
	a.vals = append(a.vals, v)
	return "$" + strconv.Itoa(len(a.vals))
}

// Values returns the collected parameters in placeholder order.
func (a *Args) Values() []any { return a.vals }

// AudienceTarget is what an audience is evaluated for: the consent topic the
// subscriber must hold on at least one of Channels, and Now for event windows.
type AudienceTarget struct {
	Topic    campaigns.Topic
	Channels []string
	Now      time.Time
	// AnyConsent leaves consent out of the predicate: a broadcast's dry run
	// counts the audience's conditions and lets policy say who lacks consent.
	AnyConsent bool
}

// AudienceWhere returns a boolean SQL predicate over the subscribers row
// aliased "s" that holds for the members of aud. Every value and every
// attribute name goes through args; nothing from the definition is spliced
// into the SQL text. Erased subscribers never match.
func AudienceWhere(aud campaigns.Audience, t AudienceTarget, args *Args) (string, error) {
	parts := []string{"s.erased_at IS NULL"}
	topic := aud.Consent
	if topic == "" {
		topic = t.Topic
	}
	switch topic {
	case campaigns.TopicService, campaigns.TopicMarketing:
	default:
		return "", fmt.Errorf("%w: consent topic %q is not service or marketing", ErrAudience, topic)
	}
	if !t.AnyConsent {
		parts = append(parts, consentSQL(topic, t.Channels, args))
	}
	for i, c := range aud.Where {
		p, err := c.SQL("s", args)
		if err != nil {
			return "", fmt.Errorf("%w: where[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, p)
	}
	for i, f := range aud.HasEvent {
		p, err := eventSQL(f, t.Now, args)
		if err != nil {
			return "", fmt.Errorf("%w: has_event[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, "EXISTS ("+p+")")
	}
	for i, f := range aud.NoEvent {
		p, err := eventSQL(f, t.Now, args)
		if err != nil {
			return "", fmt.Errorf("%w: no_event[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, "NOT EXISTS ("+p+")")
	}
	return "(" + strings.Join(parts, "\n   AND ") + ")", nil
}

// consentSQL: the subscriber consents to topic on at least one channel of
// chans, or on any channel when none is listed (consent.AudienceSQL).
func consentSQL(topic campaigns.Topic, chans []string, args *Args) string {
	tp, anyOf := args.Add(string(topic)), ""
	if len(chans) > 0 {
		anyOf = args.Add(pq.Array(chans))
	}
	return consent.AudienceSQL("s.id", anyOf, tp)
}

func eventSQL(f campaigns.EventFilter, now time.Time, args *Args) (string, error) {
	if f.Name == "" {
		return "", errors.New("name is required")
	}
	q := "SELECT 1 FROM subscriber_events ev WHERE ev.subscriber_id = s.id AND ev.name = " + args.Add(f.Name)
	if f.Within > 0 {
		if now.IsZero() {
			return "", errors.New("within needs the current time")
		}
		q += " AND ev.occurred_at >= " + args.Add(now.Add(-f.Within.D()))
	}
	return q, nil
}
