package consent

// Topic is what a consent event is about, and so which consent a campaign
// needs: service messages (order status, the reply to a question the
// customer asked) or marketing, which Russian advertising law requires to be
// consented to separately. Topic is this type.
type Topic string

const (
	TopicService   Topic = "service"
	TopicMarketing Topic = "marketing"
)

// Topics lists every topic; a channel opt-out revokes all of them.
var Topics = []Topic{TopicService, TopicMarketing}

// ValidTopic reports whether t is service or marketing.
func ValidTopic(t Topic) bool { return t == TopicService || t == TopicMarketing }

// topicNames is Topics for a text[] parameter.
func topicNames() []string {
	s := make([]string, len(Topics))
	for i, t := range Topics {
		s[i] = string(t)
	}
	return s
}
