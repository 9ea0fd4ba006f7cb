package channels

import "sort"

// Registry holds the configured senders, one per channel.
type Registry struct {
	senders map[Kind]Sender
}

// NewRegistry returns a registry of senders.
func NewRegistry(ss ...Sender) *Registry {
	r := &Registry{senders: map[Kind]Sender{}}
	for _, s := range ss {
		r.Add(s)
	}
	return r
}

// Add registers s under its kind, replacing any earlier sender of that kind.
func (r *Registry) Add(s Sender) { r.senders[s.Kind()] = s }

// Sender returns the sender of channel k.
func (r *Registry) Sender(k Kind) (Sender, bool) {
	s, ok := r.senders[k]
	return s, ok
}

// Kinds lists the configured channels in a stable order.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, 0, len(r.senders))
	for k := range r.senders {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// HasDeliveryReceipts reports whether the provider tells when a message was
// delivered (Telegram, VK and Instagram do not: a successful send is all
// there is, then Instagram's "seen").
func HasDeliveryReceipts(k Kind) bool {
	switch k {
	case Telegram, VK, Instagram:
		return false
	}
	return true
}

// DeduplicatesByKey reports whether the provider drops a second message with
// the same Message.IdempotencyKey: VK answers a repeated random_id (RandomID
// of the key) with the first message's id, the sandbox records sends under
// the key. A message to such a provider may be sent again after a crash; to
// the others the worker's in-flight ledger never sends twice, and reports
// what it cannot know.
func DeduplicatesByKey(k Kind) bool {
	switch k {
	case VK, Sandbox:
		return true
	}
	return false
}

// HasReadReceipts reports whether the provider tells when a message was read.
// Telegram never does; Twilio reports "read" only for RCS senders, never for
// a plain SMS. A run on such a channel can be replied to without being read.
func HasReadReceipts(k Kind) bool {
	switch k {
	case Telegram, SMS:
		return false
	}
	return true
}

// Rate is a provider's sending limit, the default of the Redis limiter:
// PerSecond across the account, PerChatPerSecond towards one recipient, and
// ChatBurst, the per-recipient budget that may be spent at once (default 1).
// Zero rates mean no documented limit.
type Rate struct {
	PerSecond        float64
	PerChatPerSecond float64
	ChatBurst        int
}
