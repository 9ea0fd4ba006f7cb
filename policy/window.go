package policy

import (
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// HumanAgentWindow is how long after the user's last message Messenger and
// Instagram let a person answer with the HUMAN_AGENT tag.
const HumanAgentWindow = 7 * 24 * time.Hour

// InWindow reports whether ch's customer-service window is open at now for a
// user whose last message came at lastInbound (nil: never). Channels without
// a window are always open.
func InWindow(ch channels.Kind, lastInbound *time.Time, now time.Time) bool {
	return !HasWindow(ch) || (lastInbound != nil && now.Before(lastInbound.Add(Window)))
}

// PersonReply is how a person's free-form reply may go out on a channel now.
type PersonReply struct {
	// Allowed: the reply may go as it is (with Tag when set).
	Allowed bool
	// NeedsTemplate: only an approved template may go (WhatsApp outside 24h).
	NeedsTemplate bool
	// Tag is the message tag the reply needs (Messenger and Instagram
	// HUMAN_AGENT after 24h).
	Tag string
	// Reason says why the reply may not go as it is.
	Reason string
}

// ForPerson applies the channel's rules to a manager's reply: WhatsApp only
// within the 24h window, else an approved template; Messenger and Instagram
// within 24h, or up to HumanAgentWindow with the HUMAN_AGENT tag.
func ForPerson(ch channels.Kind, lastInbound *time.Time, now time.Time) PersonReply {
	if InWindow(ch, lastInbound, now) {
		return PersonReply{Allowed: true}
	}
	switch ch {
	case channels.WhatsApp:
		return PersonReply{NeedsTemplate: true, Reason: "more than 24 hours since the customer's last message"}
	case channels.Messenger, channels.Instagram:
		if lastInbound != nil && now.Sub(*lastInbound) <= HumanAgentWindow {
			return PersonReply{Allowed: true, Tag: "HUMAN_AGENT"}
		}
		return PersonReply{Reason: "more than 7 days since the customer's last message (HUMAN_AGENT limit)"}
	}
	return PersonReply{Allowed: true}
}
