package channels

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nudge-engine/nudge/internal/config"
)

// DefaultAccount is the account configured by the unprefixed
// NUDGE_<CHANNEL>_… variables, and the one a campaign uses on a channel
// unless it names another.
const DefaultAccount = "main"

// accountRe is what an account name may be: it is a path segment of its
// webhook (/webhooks/<channel>/<account>) and an infix of its variables,
// where '-' becomes '_' (NUDGE_TELEGRAM_BRAND_B_TOKEN). Lower case and no
// '_' keep that mapping one to one.
var accountRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// CheckAccount reports whether name is a valid account name.
func CheckAccount(name string) error {
	if !accountRe.MatchString(name) {
		return fmt.Errorf("account %q: use 1-32 characters of a-z, 0-9 and '-', starting with a letter or digit", name)
	}
	return nil
}

// Account returns the account a message, event or identity belongs to:
// account itself, or DefaultAccount when it is empty or "default" (rows and
// events from before several accounts were wired, and the names EnvVar
// already treats as the unprefixed account).
func Account(account string) string {
	if account == "" || account == "default" {
		return DefaultAccount
	}
	return account
}

// AccountsVar is the variable listing the extra accounts of a channel
// ("TELEGRAM"): NUDGE_TELEGRAM_ACCOUNTS=shop2,brand-b.
func AccountsVar(channel string) string { return "NUDGE_" + channel + "_ACCOUNTS" }

// LoadAccounts returns the accounts of a channel ("TELEGRAM") to configure:
// DefaultAccount (the unprefixed variables) first, then each name listed in
// NUDGE_<CHANNEL>_ACCOUNTS, comma-separated, whose variables carry the
// account as an infix (EnvVar). Accounts are listed rather than discovered
// by scanning the environment: NUDGE_TELEGRAM_RATE_TOKEN could be the token
// of an account "rate" or nothing at all. A bad or repeated name is
// reported through e, naming the variable.
func LoadAccounts(e *config.Env, channel string) []string {
	name := AccountsVar(channel)
	out := []string{DefaultAccount}
	seen := map[string]bool{DefaultAccount: true}
	for _, a := range strings.Split(e.String(name, ""), ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			continue
		case seen[Account(a)]:
			e.Fail(name, "account %q is listed twice (%q is always the unprefixed variables)", a, DefaultAccount)
			continue
		}
		if err := CheckAccount(a); err != nil {
			e.Fail(name, "%v", err)
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	return out
}

// CheckUnlisted reports, through e, each set variable that enables an
// account (NUDGE_<channel>_<ACCOUNT>_<key>) of an account not in accounts:
// a bot configured but not listed in NUDGE_<channel>_ACCOUNTS would
// otherwise be silently ignored. settings are the channel's other settings
// whose names end in key (Telegram's PAYMENT_PROVIDER_TOKEN beside TOKEN):
// a variable ending in one of them names that setting, not an account.
func CheckUnlisted(e *config.Env, channel, key string, accounts []string, settings ...string) {
	listed := map[string]bool{}
	for _, a := range accounts {
		listed[EnvVar(channel, a, key)] = true
	}
	prefix, suffix := "NUDGE_"+channel+"_", "_"+key
	for _, name := range e.NamesWithPrefix(prefix) {
		if slices.ContainsFunc(settings, func(s string) bool { return name == prefix+s || strings.HasSuffix(name, "_"+s) }) {
			continue
		}
		if strings.HasSuffix(name, suffix) && len(name) > len(prefix)+len(suffix) && !listed[name] {
			acc := strings.ToLower(strings.ReplaceAll(name[len(prefix):len(name)-len(suffix)], "_", "-"))
			e.Fail(name, "account %q is not listed in %s (list it, or unset the variable)", acc, AccountsVar(channel))
		}
	}
}

// Dispatcher is the Sender of one channel with several accounts: it sends
// each message through the sender of the message's account.
type Dispatcher struct {
	kind     Kind
	accounts map[string]Sender
}

// Kind implements Sender.
func (d *Dispatcher) Kind() Kind { return d.kind }

// Send sends m through the sender of m.Account (DefaultAccount when empty).
// An account that is not configured is an Invalid error: the message names
// a bot or number this install does not have.
func (d *Dispatcher) Send(ctx context.Context, m Message) (Result, error) {
	acc := Account(m.Account)
	s, ok := d.accounts[acc]
	if !ok {
		return Result{}, d.unknown(acc)
	}
	m.Account = acc
	return s.Send(ctx, m)
}

func (d *Dispatcher) unknown(acc string) error {
	return &Error{Kind: Invalid, Code: "unknown_account", Message: fmt.Sprintf("no %s account %q is configured", d.kind, acc)}
}

// RequestBatcher is a sender whose provider takes up to CallsPerRequest
// messages in one request and counts that request once against the
// account's rate (VK's execute): at a rate, the worker reserves one limiter
// slot per request instead of one per message.
type RequestBatcher interface {
	SendBatch(ctx context.Context, msgs []Message) ([]Result, []error)
	CallsPerRequest() int
}

// RequestBatchDispatcher is the Dispatcher of a channel whose every account's
// sender is a request batcher (VK): it sends each account's messages of a
// batch through that account's SendBatch, so several communities are batched
// and paced by request as one is.
type RequestBatchDispatcher struct {
	*Dispatcher
	per int
}

// requestBatching returns d as a RequestBatchDispatcher when every account
// batches requests.
func (d *Dispatcher) requestBatching() (*RequestBatchDispatcher, bool) {
	per := 0
	for _, s := range d.accounts {
		rb, ok := s.(RequestBatcher)
		if !ok {
			return nil, false
		}
		if n := rb.CallsPerRequest(); per == 0 || n < per {
			per = n
		}
	}
	return &RequestBatchDispatcher{Dispatcher: d, per: per}, per > 0
}

// CallsPerRequest is the fewest messages a request of any account carries.
func (d *RequestBatchDispatcher) CallsPerRequest() int { return d.per }

// SendBatch sends msgs through their accounts' SendBatch, an account's
// messages in one call, results in msgs' order; a message of an account that
// is not configured fails as Send's does.
func (d *RequestBatchDispatcher) SendBatch(ctx context.Context, msgs []Message) ([]Result, []error) {
	res, errs := make([]Result, len(msgs)), make([]error, len(msgs))
	byAccount := map[string][]int{}
	var order []string
	for i, m := range msgs {
		acc := Account(m.Account)
		if _, seen := byAccount[acc]; !seen {
			order = append(order, acc)
		}
		byAccount[acc] = append(byAccount[acc], i)
	}
	for _, acc := range order {
		idx := byAccount[acc]
		s, ok := d.accounts[acc]
		if !ok {
			for _, i := range idx {
				errs[i] = d.unknown(acc)
			}
			continue
		}
		part := make([]Message, len(idx))
		for k, i := range idx {
			part[k] = msgs[i]
			part[k].Account = acc
		}
		rs, es := s.(RequestBatcher).SendBatch(ctx, part)
		for k, i := range idx {
			res[i], errs[i] = rs[k], es[k]
		}
	}
	return res, errs
}
