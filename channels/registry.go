package channels

import "sort"

// Registry holds the configured senders by channel and account.
type Registry struct {
	senders map[Kind]map[string]Sender
}

// NewRegistry returns a registry of senders, each as its channel's
// DefaultAccount.
func NewRegistry(ss ...Sender) *Registry {
	r := &Registry{senders: map[Kind]map[string]Sender{}}
	for _, s := range ss {
		r.Add(s)
	}
	return r
}

// Add registers s as the DefaultAccount of its kind.
func (r *Registry) Add(s Sender) { r.AddAccount(DefaultAccount, s) }

// AddAccount registers s under its kind and account (DefaultAccount when
// empty), replacing any earlier sender of that pair.
func (r *Registry) AddAccount(account string, s Sender) {
	k := s.Kind()
	if r.senders[k] == nil {
		r.senders[k] = map[string]Sender{}
	}
	r.senders[k][Account(account)] = s
}

// Sender returns the sender of channel k's DefaultAccount.
func (r *Registry) Sender(k Kind) (Sender, bool) { return r.SenderOf(k, DefaultAccount) }

// SenderOf returns the sender of channel k's account (DefaultAccount when
// empty).
func (r *Registry) SenderOf(k Kind, account string) (Sender, bool) {
	s, ok := r.senders[k][Account(account)]
	return s, ok
}

// Dispatcher returns the sender of channel k that sends each message
// through its Message.Account; false when k has no account configured.
func (r *Registry) Dispatcher(k Kind) (*Dispatcher, bool) {
	accs, ok := r.senders[k]
	if !ok || len(accs) == 0 {
		return nil, false
	}
	return &Dispatcher{kind: k, accounts: accs}, true
}

// Senders returns one sender per configured channel, in Kinds order: the
// account's own sender when the channel has only DefaultAccount (keeping
// what else it implements, such as a batch send), otherwise its Dispatcher
// (a RequestBatchDispatcher when every account batches requests).
func (r *Registry) Senders() []Sender {
	var out []Sender
	for _, k := range r.Kinds() {
		if s, ok := r.senders[k][DefaultAccount]; ok && len(r.senders[k]) == 1 {
			out = append(out, s)
			continue
		}
		d, _ := r.Dispatcher(k)
		if rb, ok := d.requestBatching(); ok {
			out = append(out, rb)
			continue
		}
		out = append(out, d)
	}
	return out
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

// Accounts lists channel k's configured accounts: DefaultAccount first when
// configured, then the others by name.
func (r *Registry) Accounts(k Kind) []string {
	out := make([]string, 0, len(r.senders[k]))
	for a := range r.senders[k] {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == DefaultAccount) != (out[j] == DefaultAccount) {
			return out[i] == DefaultAccount
		}
		return out[i] < out[j]
	})
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
