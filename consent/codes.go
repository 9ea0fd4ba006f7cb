package consent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
)

// CodeBytes is the entropy of an opt-in code: 16 random bytes, 22 base64url
// characters, far inside Telegram's 64-character start payload.
const CodeBytes = 16

// MaxCodeLen is the longest code any channel carries (Telegram's limit).
const MaxCodeLen = 64

var codeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidCode reports whether s can be an opt-in code: 1–64 characters of
// [A-Za-z0-9_-] (the Telegram start-payload alphabet, which every other
// channel also carries unescaped).
func ValidCode(s string) bool { return codeRE.MatchString(s) }

// NewCodeValue returns a fresh random code.
func NewCodeValue() string {
	b := make([]byte, CodeBytes)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Attribution is where an opt-in came from (for acquisition reports).
type Attribution struct {
	UTMSource   string `json:"utm_source,omitempty"`
	UTMMedium   string `json:"utm_medium,omitempty"`
	UTMCampaign string `json:"utm_campaign,omitempty"`
	UTMContent  string `json:"utm_content,omitempty"`
	UTMTerm     string `json:"utm_term,omitempty"`
	Ref         string `json:"ref,omitempty"`
	Landing     string `json:"landing,omitempty"` // page the widget was shown on
}

// MaxAttributionLen bounds each attribution value (in bytes, cut on a rune boundary).
const MaxAttributionLen = 256

// AttributionFrom reads utm_*, ref and landing from get (a url.Values.Get or
// a form getter), trimming and bounding each value.
func AttributionFrom(get func(string) string) Attribution {
	return Attribution{
		UTMSource:   clip(get("utm_source")),
		UTMMedium:   clip(get("utm_medium")),
		UTMCampaign: clip(get("utm_campaign")),
		UTMContent:  clip(get("utm_content")),
		UTMTerm:     clip(get("utm_term")),
		Ref:         clip(get("ref")),
		Landing:     clip(get("landing")),
	}
}

// Map returns the non-empty values keyed by parameter name.
func (a Attribution) Map() map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{
		"utm_source": a.UTMSource, "utm_medium": a.UTMMedium, "utm_campaign": a.UTMCampaign,
		"utm_content": a.UTMContent, "utm_term": a.UTMTerm, "ref": a.Ref, "landing": a.Landing,
	} {
		if v != "" {
			m[k] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func clip(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= MaxAttributionLen {
		return s
	}
	cut := MaxAttributionLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Code is a stored opt-in code.
type Code struct {
	Code         string          `db:"code"`
	SubscriberID *int64          `db:"subscriber_id"` // nil: anonymous (widget)
	Topics       pq.StringArray  `db:"topics"`
	Source       Source          `db:"source"`
	RawAttr      json.RawMessage `db:"attribution"`
	TextVersion  string          `db:"text_version"`
	JTI          string          `db:"jti"`
	ExpiresAt    time.Time       `db:"expires_at"`
	UseCount     int             `db:"use_count"`
	UsedChannels pq.StringArray  `db:"used_channels"`
	CreatedAt    time.Time       `db:"created_at"`
}

// Attribution decodes the stored attribution.
func (c *Code) Attribution() Attribution {
	var a Attribution
	_ = json.Unmarshal(c.RawAttr, &a)
	return a
}

// TopicList returns the code's topics.
func (c *Code) TopicList() []Topic {
	ts := make([]Topic, 0, len(c.Topics))
	for _, t := range c.Topics {
		ts = append(ts, Topic(t))
	}
	return ts
}

// usedOn reports whether the code was already redeemed on channel.
func (c *Code) usedOn(ch channels.Kind) bool {
	for _, u := range c.UsedChannels {
		if u == string(ch) {
			return true
		}
	}
	return false
}

// NewCode describes a code to mint.
type NewCode struct {
	SubscriberID int64 // 0: anonymous
	Topics       []Topic
	Source       Source // widget | jwt_link | api
	Attribution  Attribution
	TextVersion  string
	JTI          string
	TTL          time.Duration
}

// ErrCodeNotFound is returned for an unknown code.
var ErrCodeNotFound = errors.New("opt-in code not found")

// Codes mints and reads opt-in codes.
type Codes struct {
	now func() time.Time
}

// NewCodes returns the code store; now is the clock (nil = time.Now).
func NewCodes(now func() time.Time) *Codes {
	return &Codes{now: clock.NowOr(now)}
}

// Create mints a code.
func (cs *Codes) Create(ctx context.Context, q db.Executor, n NewCode) (*Code, error) {
	if len(n.Topics) == 0 {
		return nil, fmt.Errorf("%w: a code needs at least one topic", ErrInvalidChange)
	}
	topics := make(pq.StringArray, 0, len(n.Topics))
	for _, t := range n.Topics {
		if !ValidTopic(t) {
			return nil, fmt.Errorf("%w: topic %q", ErrInvalidChange, t)
		}
		topics = append(topics, string(t))
	}
	switch n.Source {
	case SourceWidget, SourceJWTLink, SourceAPI:
	default:
		return nil, fmt.Errorf("%w: code source %q", ErrInvalidChange, n.Source)
	}
	if n.TTL <= 0 {
		return nil, fmt.Errorf("%w: code TTL must be positive", ErrInvalidChange)
	}
	attr, err := json.Marshal(n.Attribution)
	if err != nil {
		return nil, err
	}
	now := cs.now().UTC()
	c := &Code{
		Code: NewCodeValue(), Topics: topics, Source: n.Source, RawAttr: attr, TextVersion: n.TextVersion,
		JTI: n.JTI, ExpiresAt: now.Add(n.TTL), CreatedAt: now,
	}
	var sub any
	if n.SubscriberID > 0 {
		id := n.SubscriberID
		c.SubscriberID = &id
		sub = id
	}
	var jti any
	if n.JTI != "" {
		jti = n.JTI
	}
	if _, err := q.ExecContext(ctx, sqlInsertCode, c.Code, sub, topics, string(n.Source), attr, n.TextVersion, jti, c.ExpiresAt, now); err != nil {
		return nil, fmt.Errorf("create opt-in code: %w", err)
	}
	return c, nil
}

// Get reads a code.
func (cs *Codes) Get(ctx context.Context, q db.Executor, code string) (*Code, error) {
	return cs.get(ctx, q, code, sqlGetCode)
}

func (cs *Codes) get(ctx context.Context, q db.Executor, code, query string) (*Code, error) {
	if !ValidCode(code) {
		return nil, ErrCodeNotFound
	}
	var c Code
	if err := db.Get(ctx, q, &c, ErrCodeNotFound, "read opt-in code", query, code); err != nil {
		return nil, err
	}
	return &c, nil
}

// Prune deletes codes and used JWT ids that expired before before, and
// returns how many codes it removed. Call it with a margin beyond the JWT
// leeway (e.g. now minus a day): a jti may only be forgotten once its token
// can no longer verify. The ledger keeps each used code in its proof and
// the opt-in event keeps its attribution, so nothing a report needs is lost.
func (cs *Codes) Prune(ctx context.Context, q db.Executor, before time.Time) (int64, error) {
	if _, err := q.ExecContext(ctx, sqlPruneJTI, before); err != nil {
		return 0, fmt.Errorf("prune jwt ids: %w", err)
	}
	res, err := q.ExecContext(ctx, sqlPruneCodes, before)
	if err != nil {
		return 0, fmt.Errorf("prune codes: %w", err)
	}
	return res.RowsAffected()
}
