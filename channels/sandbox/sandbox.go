// Package sandbox is the in-process channel: it records every send in
// Postgres (sandbox_sends, unique on the idempotency key, like a provider that
// dedupes on a client key such as VK random_id), can be scripted per address
// to fail, block, be slow or answer 429 once, reports delivered/read statuses
// after a delay, and simulates customers' replies for the demo.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// Behavior scripts how the sandbox treats one address.
type Behavior struct {
	// Fail makes every send fail with this kind (blocked, not_reachable, invalid, transient).
	Fail channels.ErrorKind
	// RateLimitOnce answers the first send with rate_limited and RetryAfter.
	RateLimitOnce bool
	RetryAfter    time.Duration
	// Delay makes the send call slow (wall time).
	Delay time.Duration
	// Report is the status reported after ReportAfter (flow time): delivered or read; "" = none.
	Report      channels.EventType
	ReportAfter time.Duration
}

// ReplyModel simulates customers answering messages that carry buttons:
// Positive and Negative are shares of recipients (the rest stay silent);
// each reply comes Min..Max after the send (flow time).
type ReplyModel struct {
	Positive, Negative float64
	Min, Max           time.Duration
	PositiveText       string // default "Да, очень вкусно!"
	NegativeText       string // default "Не понравилось"
}

// Config configures a Sandbox.
type Config struct {
	// Kind is the channel this sandbox stands in for (default sandbox); the
	// demo runs one per channel of a fallback ladder.
	Kind    channels.Kind
	DB      db.Executor
	Now     func() time.Time
	Default Behavior // for addresses without a script
	Replies *ReplyModel
	// Statuses receives delivered/read reports (or set it later with
	// ReportStatusesTo), Inbound receives simulated replies.
	Statuses func(ctx context.Context, ev channels.Event) error
	Inbound  func(ctx context.Context, ev channels.Event) error
}

// Sandbox implements channels.Sender.
type Sandbox struct {
	cfg     Config
	mu      sync.Mutex
	scripts map[string]Behavior
	limited map[string]bool
	pending []channels.Event // reports and replies, At = when due
}

// New returns a sandbox channel.
func New(cfg Config) *Sandbox {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Kind == "" {
		cfg.Kind = channels.Sandbox
	}
	return &Sandbox{cfg: cfg, scripts: map[string]Behavior{}, limited: map[string]bool{}}
}

// Script sets the behaviour for address.
func (s *Sandbox) Script(address string, b Behavior) {
	s.mu.Lock()
	s.scripts[address] = b
	s.mu.Unlock()
}

// ReportStatusesTo sets where delivered/read reports go. It is the second
// step of wiring in which the receiver is built after the sandbox: the
// engine that applies statuses also sends through the sandbox. Call it
// before the first send: reports with no receiver are dropped when due.
func (s *Sandbox) ReportStatusesTo(f func(ctx context.Context, ev channels.Event) error) {
	s.mu.Lock()
	s.cfg.Statuses = f
	s.mu.Unlock()
}

// Kind is the channel the sandbox stands in for.
func (s *Sandbox) Kind() channels.Kind { return s.cfg.Kind }

const insertSend = `
INSERT INTO sandbox_sends (idempotency_key, channel, account, address, text, content, provider_id)
VALUES ($1, $7, $2, $3, $4, $5, $6)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING provider_id, created_at, (xmax = 0) AS inserted`

// Send records m, or fails as scripted. A repeated idempotency key returns the
// first send's provider id and records nothing new.
func (s *Sandbox) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	s.mu.Lock()
	b, ok := s.scripts[m.To]
	if !ok {
		b = s.cfg.Default
	}
	limitedNow := b.RateLimitOnce && !s.limited[m.To]
	if limitedNow {
		s.limited[m.To] = true
	}
	s.mu.Unlock()
	if b.Delay > 0 {
		t := time.NewTimer(b.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return channels.Result{}, notHandedOver(ctx.Err())
		case <-t.C:
		}
	}
	if limitedNow {
		ra := b.RetryAfter
		if ra == 0 {
			ra = time.Second
		}
		return channels.Result{}, &channels.Error{Kind: channels.RateLimited, Code: "429", Message: "Too Many Requests", RetryAfter: ra}
	}
	switch b.Fail {
	case "":
	case channels.Blocked:
		return channels.Result{}, &channels.Error{Kind: channels.Blocked, Code: "403", Message: "Forbidden: bot was blocked by the user"}
	case channels.NotReachable:
		return channels.Result{}, &channels.Error{Kind: channels.NotReachable, Code: "400", Message: "chat not found"}
	default:
		return channels.Result{}, &channels.Error{Kind: b.Fail, Code: "500", Message: "scripted failure"}
	}
	// Last look before the hand-over: once the insert is under way its
	// outcome stands (a sender's context may end a batch between messages,
	// never in the middle of one).
	if err := ctx.Err(); err != nil {
		return channels.Result{}, notHandedOver(err)
	}
	content := recorded(m)
	pid := "sbx-" + m.IdempotencyKey
	var res struct {
		ProviderID string    `db:"provider_id"`
		CreatedAt  time.Time `db:"created_at"`
		Inserted   bool      `db:"inserted"`
	}
	if err := s.cfg.DB.GetContext(ctx, &res, insertSend, m.IdempotencyKey, m.Account, m.To, m.Text, content, pid, string(s.cfg.Kind)); err != nil {
		return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "db", Message: err.Error()}
	}
	now := s.cfg.Now()
	if res.Inserted {
		s.schedule(m, res.ProviderID, b, now)
	}
	return channels.Result{ProviderID: res.ProviderID, SentAt: now}, nil
}

// notHandedOver is a send's error when its context ended before the hand-over.
func notHandedOver(err error) error {
	return &channels.Error{Kind: channels.Transient, Code: "timeout", Message: err.Error()}
}

func (s *Sandbox) schedule(m channels.Message, pid string, b Behavior, now time.Time) {
	var evs []channels.Event
	if b.Report == channels.EventDelivered || b.Report == channels.EventRead {
		evs = append(evs, channels.Event{Type: b.Report, Channel: s.cfg.Kind, Account: m.Account,
			ProviderEventID: string(b.Report) + ":" + pid, From: m.To, ProviderMessageID: pid, At: now.Add(b.ReportAfter)})
	}
	if rm := s.cfg.Replies; rm != nil && len(m.Buttons) > 0 {
		h := fnv.New64a()
		h.Write([]byte(m.IdempotencyKey))
		x := h.Sum64()
		u := float64(x%10000) / 10000
		delay := rm.Min
		if rm.Max > rm.Min {
			delay += time.Duration((x >> 16) % uint64(rm.Max-rm.Min))
		}
		ev := channels.Event{Type: channels.EventButton, Channel: s.cfg.Kind, Account: m.Account,
			ProviderEventID: "reply:" + pid, From: m.To, At: now.Add(delay)}
		switch {
		case u < rm.Positive:
			ev.Payload, ev.Text = m.Buttons[0].ID, orDefault(rm.PositiveText, "Да, очень вкусно!")
			evs = append(evs, ev)
		case u < rm.Positive+rm.Negative:
			last := m.Buttons[len(m.Buttons)-1]
			ev.Payload, ev.Text = last.ID, orDefault(rm.NegativeText, "Не понравилось")
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	s.pending = append(s.pending, evs...)
	s.mu.Unlock()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Tick delivers the reports and replies due by the sandbox clock, oldest
// first, and returns how many were delivered. Failed deliveries stay queued.
func (s *Sandbox) Tick(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	sort.SliceStable(s.pending, func(i, j int) bool { return s.pending[i].At.Before(s.pending[j].At) })
	var due []channels.Event
	i := 0
	for ; i < len(s.pending) && !s.pending[i].At.After(now); i++ {
		due = append(due, s.pending[i])
	}
	s.pending = append([]channels.Event(nil), s.pending[i:]...)
	statuses, inbound := s.cfg.Statuses, s.cfg.Inbound
	s.mu.Unlock()
	n := 0
	for k, ev := range due {
		sink := statuses
		if ev.Type == channels.EventButton || ev.Type == channels.EventText {
			sink = inbound
		}
		if sink == nil {
			n++
			continue
		}
		if err := sink(ctx, ev); err != nil {
			s.mu.Lock()
			s.pending = append(s.pending, due[k:]...)
			s.mu.Unlock()
			return n, fmt.Errorf("sandbox: deliver %s: %w", ev.Type, err)
		}
		n++
	}
	return n, nil
}

// Pending returns how many reports and replies wait to be delivered.
func (s *Sandbox) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

const insertSends = `
INSERT INTO sandbox_sends (idempotency_key, account, address, text, content, provider_id, channel)
SELECT k, a, ad, t, c, p, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[]) AS u(k, a, ad, t, c, p)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key`

// SendBatch records many messages with one multi-row insert (like a bulk
// API). Addresses with a script, or a default behaviour that is not plain,
// go through Send one by one.
func (s *Sandbox) SendBatch(ctx context.Context, msgs []channels.Message) ([]channels.Result, []error) {
	res := make([]channels.Result, len(msgs))
	errs := make([]error, len(msgs))
	s.mu.Lock()
	plainDefault := s.cfg.Default == Behavior{}
	var bulk []int
	for i, m := range msgs {
		if _, scripted := s.scripts[m.To]; !scripted && plainDefault {
			bulk = append(bulk, i)
		}
	}
	s.mu.Unlock()
	isBulk := make([]bool, len(msgs))
	n := len(bulk)
	keys, accts, addrs, texts, contents, pids := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for j, i := range bulk {
		m := msgs[i]
		isBulk[i] = true
		c := recorded(m)
		keys[j], accts[j], addrs[j], texts[j], contents[j], pids[j] = m.IdempotencyKey, m.Account, m.To, m.Text, string(c), "sbx-"+m.IdempotencyKey
	}
	now := s.cfg.Now()
	if n > 0 && ctx.Err() != nil {
		for _, i := range bulk {
			errs[i] = notHandedOver(ctx.Err())
		}
		n = 0
	}
	if n > 0 {
		var inserted []string
		err := s.cfg.DB.SelectContext(ctx, &inserted, insertSends, pq.Array(keys), pq.Array(accts), pq.Array(addrs),
			pq.Array(texts), pq.Array(contents), pq.Array(pids), string(s.cfg.Kind))
		fresh := map[string]bool{}
		for _, k := range inserted {
			fresh[k] = true
		}
		for _, i := range bulk {
			if err != nil {
				errs[i] = &channels.Error{Kind: channels.Transient, Code: "db", Message: err.Error()}
				continue
			}
			m := msgs[i]
			res[i] = channels.Result{ProviderID: "sbx-" + m.IdempotencyKey, SentAt: now}
			if fresh[m.IdempotencyKey] {
				s.schedule(m, res[i].ProviderID, Behavior{}, now)
			}
		}
	}
	for i, m := range msgs {
		if !isBulk[i] {
			res[i], errs[i] = s.Send(ctx, m)
		}
	}
	return res, errs
}

// recorded is what the sandbox keeps of a message beside its text.
func recorded(m channels.Message) []byte {
	b, _ := json.Marshal(struct {
		Subject  string                `json:"subject,omitempty"`
		Image    string                `json:"image,omitempty"`
		Images   []string              `json:"images,omitempty"`
		Document *channels.DocumentRef `json:"document,omitempty"`
		Buttons  []channels.Button     `json:"buttons,omitempty"`
	}{m.Subject, m.ImageURL, m.Images, m.Document, m.Buttons})
	return b
}
