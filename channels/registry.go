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
