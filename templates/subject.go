package templates

import "github.com/nudge-engine/nudge/campaigns"

// Subject is what a campaign condition (campaigns.Condition.Match) reads
// about the subscriber: the same subscriber the templates see.
func (s Subscriber) Subject() campaigns.Subject {
	return campaigns.Subject{Locale: s.Locale, TimeZone: s.TimeZone, Name: s.Name, ExternalID: s.ExternalID, Attributes: s.Attributes}
}
