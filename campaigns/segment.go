package campaigns

import (
	"fmt"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

// This file is the segment format: a saved, named audience in a YAML
// document of its own (kind: segment) beside the campaigns. The loader,
// positions, lint and schema are the campaigns'; a campaign's audience names
// one with audience.segment. The scheduler compiles a segment with the same
// predicate as an inline audience (scheduler.AudienceWhere).

// KindSegment is the kind of a segment document; a campaign has no kind (or
// KindCampaign).
const (
	KindSegment  = "segment"
	KindCampaign = "campaign"
)

// Segment is one segment file.
type Segment struct {
	Kind string `yaml:"kind" json:"kind"`
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Consent is the topic a member holds on at least one of Channels
	// (default marketing).
	Consent Topic `yaml:"consent,omitempty" json:"consent,omitempty"`
	// Channels: consent on at least one of them (default: any channel); the
	// count splits members by the first of them they are reachable on.
	Channels    []string      `yaml:"channels,omitempty" json:"channels,omitempty"`
	Where       []Condition   `yaml:"where,omitempty" json:"where,omitempty"`
	HasEvent    []EventFilter `yaml:"has_event,omitempty" json:"has_event,omitempty"`
	NoEvent     []EventFilter `yaml:"no_event,omitempty" json:"no_event,omitempty"`
	Reachable   []string      `yaml:"reachable,omitempty" json:"reachable,omitempty"`
	OptInSource []string      `yaml:"opt_in_source,omitempty" json:"opt_in_source,omitempty"`
}

// Topic returns the consent topic of the segment's members.
func (s *Segment) Topic() Topic {
	if s.Consent == "" {
		return TopicMarketing
	}
	return s.Consent
}

// Audience returns the segment as an audience (without channels: they are
// the target's, see SplitChannels).
func (s *Segment) Audience() Audience {
	return Audience{Consent: s.Topic(), Where: s.Where, HasEvent: s.HasEvent, NoEvent: s.NoEvent,
		Reachable: s.Reachable, OptInSource: s.OptInSource}
}

// SplitChannels are the channels a count splits members by, in order: the
// segment's channels, else every channel kind.
func (s *Segment) SplitChannels() []string {
	if len(s.Channels) > 0 {
		return s.Channels
	}
	return channelNames()
}

func sourceNames() []string {
	return []string{string(consent.SourceWidget), string(consent.SourceJWTLink), string(consent.SourceDialog),
		string(consent.SourceImport), string(consent.SourceAPI)}
}

// segment runs the segment rules on a kind: segment file.
func (l *linter) segment() {
	s := l.f.Segment
	if l.f.Has("id") && !idRe.MatchString(s.ID) {
		l.add("id", "invalid-value", "use lowercase letters, digits, - and _, e.g. weekly-eaters", "id %q is not a valid segment id", s.ID)
	}
	if l.f.Has("consent") && s.Consent != TopicService && s.Consent != TopicMarketing {
		l.add("consent", "invalid-value", suggestHint(string(s.Consent), []string{"service", "marketing"}), "consent must be service or marketing, got %q", s.Consent)
	}
	l.channelList("channels", s.Channels)
	l.channelList("reachable", s.Reachable)
	for i, src := range s.OptInSource {
		if !consent.Source(src).Valid() {
			l.add(fmt.Sprintf("opt_in_source[%d]", i), "invalid-value", suggestHint(src, sourceNames()), "unknown opt-in source %q", src)
		}
	}
	l.conditions("where", s.Where)
	l.eventFilters("has_event", s.HasEvent)
	l.eventFilters("no_event", s.NoEvent)
	for i, e := range s.NoEvent {
		if e.MinCount > 0 || len(e.Last) > 0 {
			l.add(fmt.Sprintf("no_event[%d]", i), "invalid-value", "use has_event for a count or a last value", "no_event takes no min_count or last")
		}
	}
}

func (l *linter) channelList(path string, list []string) {
	for i, c := range list {
		if !channels.Kind(c).Valid() {
			l.add(fmt.Sprintf("%s[%d]", path, i), "invalid-value", suggestHint(c, channelNames()), "unknown channel %q", c)
		}
	}
}
