package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// Reasons a Decision gives when it does not send (stable strings: stored
// with skipped messages and shown by preview).
const (
	ReasonNoConsent    = "no_consent"
	ReasonNoIdentity   = "no_identity"
	ReasonBlocked      = "blocked"
	ReasonQuietHours   = "quiet_hours"
	ReasonFrequencyCap = "frequency_cap"
	ReasonHandoffOpen  = "handoff_open"
	ReasonWindowClosed = "window_closed"
	ReasonNoChannel    = "no_channel" // the candidate list is empty
	ReasonInvalid      = "invalid_settings"
)

// Window is the customer-service window of WhatsApp, Messenger and Instagram.
const Window = 24 * time.Hour

// Identity is a subscriber's address on one channel.
type Identity struct {
	Account       string // the bot, page or number it belongs to
	Address       string
	LastInboundAt *time.Time
	Blocked       bool
}

// Input is everything Decide needs, as of Now.
type Input struct {
	Topic    campaigns.Topic
	Settings campaigns.Settings
	Now      time.Time
	Location *time.Location // the subscriber's zone; nil = UTC

	Consent    map[channels.Kind]bool // consent for Topic per channel ('*' rows expanded)
	Identities map[channels.Kind]Identity

	SentInCapWindow int  // messages of this topic sent in the cap window
	HandoffOpen     bool // an open manager conversation pauses marketing

	// OutsideWindowOK marks channels whose variant can be sent outside the
	// 24h window (WhatsApp template, Messenger tag); see templates.OutsideWindow.
	OutsideWindowOK map[channels.Kind]bool
}

// Rejection says why one candidate channel was not used.
type Rejection struct {
	Channel channels.Kind
	Reason  string
}

// Decision is the gate's answer.
type Decision struct {
	Send    bool
	Channel channels.Kind // the chosen channel (also set when deferred or capped)
	Account string        // the chosen identity's account
	Address string
	// DeferUntil, when non-zero, is when to try again (quiet hours end), UTC.
	DeferUntil time.Time
	// Reason when !Send: no_consent | no_identity | blocked | quiet_hours |
	// frequency_cap | handoff_open | window_closed (| no_channel | invalid_settings).
	Reason string
	// OutsideWindow: the WhatsApp/Messenger 24h window is closed; send only
	// with the template/tag.
	OutsideWindow bool
	// Rejected lists the candidates passed over, in order.
	Rejected []Rejection
}

var progress = map[string]int{ReasonNoConsent: 1, ReasonNoIdentity: 2, ReasonBlocked: 3, ReasonWindowClosed: 4}

// HasWindow reports whether ch limits free-form messages to 24h after the
// user's last message.
func HasWindow(ch channels.Kind) bool {
	return ch == channels.WhatsApp || ch == channels.Messenger || ch == channels.Instagram
}

// Decide picks the first channel of candidates that may be used now.
func Decide(in Input, candidates []channels.Kind) Decision {
	var d Decision
	best := ""
	chosen := false
	for _, ch := range candidates {
		reason, outside := channelReason(in, ch)
		if reason != "" {
			d.Rejected = append(d.Rejected, Rejection{Channel: ch, Reason: reason})
			if progress[reason] > progress[best] {
				best = reason
			}
			continue
		}
		d.Channel, d.Account, d.Address, d.OutsideWindow = ch, in.Identities[ch].Account, in.Identities[ch].Address, outside
		chosen = true
		break
	}
	if !chosen {
		if best == "" {
			best = ReasonNoChannel
		}
		d.Reason = best
		return d
	}
	if in.HandoffOpen && !sendDuringHandoff(in) {
		d.Reason = ReasonHandoffOpen
		return d
	}
	if q := in.Settings.QuietHours; q != nil {
		until, quiet, err := QuietUntil(*q, in.Now, in.Location)
		if err != nil {
			d.Reason = ReasonInvalid
			return d
		}
		if quiet {
			d.Reason, d.DeferUntil = ReasonQuietHours, until.UTC()
			return d
		}
	}
	if c := in.Settings.FrequencyCap; c != nil && c.Max > 0 && in.SentInCapWindow >= c.Max {
		d.Reason = ReasonFrequencyCap
		return d
	}
	d.Send = true
	return d
}

func channelReason(in Input, ch channels.Kind) (reason string, outside bool) {
	if !in.Consent[ch] {
		return ReasonNoConsent, false
	}
	id, ok := in.Identities[ch]
	if !ok || id.Address == "" {
		return ReasonNoIdentity, false
	}
	if id.Blocked {
		return ReasonBlocked, false
	}
	if !InWindow(ch, id.LastInboundAt, in.Now) {
		if !in.OutsideWindowOK[ch] {
			return ReasonWindowClosed, false
		}
		return "", true
	}
	return "", false
}

func sendDuringHandoff(in Input) bool {
	if p := in.Settings.SendDuringHandoff; p != nil {
		return *p
	}
	return in.Topic != campaigns.TopicMarketing
}

// ParseClock reads "HH:MM" (00:00–23:59; "24:00" means midnight at the end
// of the day and is read as 00:00) into minutes after midnight.
func ParseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("invalid time of day %q: want HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("invalid time of day %q: want HH:MM", s)
	}
	return (hh*60 + mm) % (24 * 60), nil
}

// QuietUntil reports whether now falls in the quiet hours q in loc and, if
// so, when they end. Start is inclusive, end exclusive; start after end
// crosses midnight; start equal to end means no quiet hours.
func QuietUntil(q campaigns.QuietHours, now time.Time, loc *time.Location) (time.Time, bool, error) {
	start, err := ParseClock(q.Start)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("quiet_hours.start: %w", err)
	}
	end, err := ParseClock(q.End)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("quiet_hours.end: %w", err)
	}
	if start == end {
		return time.Time{}, false, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	cur := local.Hour()*60 + local.Minute()
	y, m, day := local.Date()
	endOn := func(dayOffset int) time.Time {
		t := time.Date(y, m, day+dayOffset, end/60, end%60, 0, 0, loc)
		target := time.Date(y, m, day+dayOffset, 0, 0, 0, 0, time.UTC)
		reached := func(x time.Time) bool {
			l := x.In(loc)
			d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
			return d.After(target) || (d.Equal(target) && l.Hour()*60+l.Minute() >= end)
		}
		for i := 0; i < 24*60 && !reached(t); i++ {
			// The end's wall clock does not exist that day (DST spring
			// forward gap) and time.Date went back before the gap: the quiet
			// hours end at the first minute whose wall clock is past it.
			t = t.Truncate(time.Minute).Add(time.Minute)
		}
		if !t.After(now) {
			// The end's wall clock occurs twice (the DST fall-back hour) and
			// time.Date chose the first, already past: take the second.
			_, before := t.Zone()
			_, after := now.In(loc).Zone()
			t = t.Add(time.Duration(before-after) * time.Second)
		}
		return t
	}
	switch {
	case start < end: // e.g. 13:00–15:00 the same day
		if cur >= start && cur < end {
			return endOn(0), true, nil
		}
	default: // e.g. 22:00–09:00 across midnight
		if cur >= start {
			return endOn(1), true, nil
		}
		if cur < end {
			return endOn(0), true, nil
		}
	}
	return time.Time{}, false, nil
}

// String explains d in one line, for preview and logs (no addresses: they
// are personal data).
func (d Decision) String() string {
	var b strings.Builder
	switch {
	case d.Send && d.OutsideWindow:
		fmt.Fprintf(&b, "send on %s outside the 24h window (template/tag)", d.Channel)
	case d.Send:
		fmt.Fprintf(&b, "send on %s", d.Channel)
	case d.Reason == ReasonQuietHours:
		fmt.Fprintf(&b, "deferred on %s until %s: quiet hours", d.Channel, d.DeferUntil.UTC().Format(time.RFC3339))
	case d.Channel != "":
		fmt.Fprintf(&b, "not sent on %s: %s", d.Channel, d.Reason)
	default:
		fmt.Fprintf(&b, "not sent: %s", d.Reason)
	}
	if len(d.Rejected) > 0 {
		b.WriteString(" (passed over:")
		for _, r := range d.Rejected {
			fmt.Fprintf(&b, " %s=%s", r.Channel, r.Reason)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Candidates returns the campaign's channel preference order as kinds,
// leaving out names that are not channels (lint reports them).
func Candidates(st campaigns.Settings) []channels.Kind {
	out := make([]channels.Kind, 0, len(st.Channels))
	for _, c := range st.Channels {
		if k := channels.Kind(strings.TrimSpace(strings.ToLower(c))); k.Valid() {
			out = append(out, k)
		}
	}
	return out
}

// explanations say each reason in words for the people reading a skipped
// message (a manager in the conversation, a marketer in a preview).
var explanations = map[string]string{
	ReasonNoConsent:    "the customer has not agreed to this topic on the campaign's channels",
	ReasonNoIdentity:   "the customer has no address on the campaign's channels",
	ReasonBlocked:      "the customer blocked us on the campaign's channels",
	ReasonQuietHours:   "quiet hours in the customer's time zone",
	ReasonFrequencyCap: "the customer already had as many messages as the cap allows",
	ReasonHandoffOpen:  "a manager has the conversation (marketing pauses until it is resolved)",
	ReasonWindowClosed: "the channel's 24-hour window is closed and the step has no template for it",
	ReasonNoChannel:    "the campaign lists no channel to try",
	ReasonInvalid:      "the campaign's settings are invalid",
}

// Explain says reason in words ("" for a reason it does not know).
func Explain(reason string) string { return explanations[reason] }
