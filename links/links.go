package links

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/templates"
)

// ClickParam is the query parameter that carries a click's code to the shop.
const ClickParam = "nudge_click"

// PathPrefix is where the redirects are served.
const PathPrefix = "/l/"

// codeLen is the length of a code: 12 bytes of HMAC in base64url.
const codeLen = 16

// Config configures a Service.
type Config struct {
	DB      *sqlx.DB
	BaseURL string // NUDGE_BASE_URL, no trailing slash
	// Secret signs the codes (NUDGE_LINK_SECRET); empty: the install's
	// generated secret, kept in link_secrets.
	Secret []byte
	Log    *slog.Logger
	Now    func() time.Time // the engine's clock (click times)
}

// Service rewrites links and serves their redirects.
type Service struct {
	db      *sqlx.DB
	base    string
	log     *slog.Logger
	now     func() time.Time
	mu      sync.Mutex
	secret  []byte
	fromEnv bool
}

// New returns a Service.
func New(c Config) *Service {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{db: c.DB, base: strings.TrimRight(c.BaseURL, "/"), log: c.Log, now: c.Now,
		secret: c.Secret, fromEnv: len(c.Secret) > 0}
}

// Message is what a composed message is to its links.
type Message struct {
	Key          string // the message's idempotency key
	SubscriberID int64
	Version      string
	StepID       string
	Channel      channels.Kind
}

// key returns the signing secret, reading (or creating) the install's once.
func (s *Service) key(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.secret) > 0 {
		return s.secret, nil
	}
	k, err := installSecret(ctx, s.db)
	if err != nil {
		return nil, err
	}
	s.secret = k
	return k, nil
}

// Code is the code of the link to rawURL in the message with key msgKey.
func Code(secret []byte, msgKey, rawURL string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msgKey))
	m.Write([]byte{0x1f})
	m.Write([]byte(rawURL))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// validCode reports whether s has the shape of a code; anything else is
// refused before the database is asked.
func validCode(s string) bool {
	if len(s) != codeLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// URL is the public redirect URL of a code.
func (s *Service) URL(code string) string { return s.base + PathPrefix + code }

// Target is where the link to raw redirects: raw with the UTM parameters it
// does not already have and, when attribution is on, nudge_click=<code>.
func Target(raw string, def *campaigns.Definition, m Message, code string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	var over campaigns.UTM
	if def.Links != nil {
		over = def.Links.UTM
	}
	q := u.Query()
	for _, p := range []struct{ name, v, def string }{
		{"utm_source", over.Source, "nudge"},
		{"utm_medium", over.Medium, string(m.Channel)},
		{"utm_campaign", over.Campaign, def.ID},
		{"utm_content", over.Content, m.StepID},
	} {
		if q.Has(p.name) {
			continue
		}
		v := p.v
		if v == "" {
			v = p.def
		}
		if v != "" {
			q.Set(p.name, v)
		}
	}
	if def.LinkAttribution() {
		q.Set(ClickParam, code)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// urlRe finds http(s) links in text: up to a space, a quote or an angle
// bracket; trailing punctuation is trimmed by cut.
var urlRe = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'` + "`" + `]+`)

// cut trims the punctuation that ends a sentence, not a link: "see
// https://x.ru/a." links https://x.ru/a; a closing bracket stays when the
// link opened one (a Wikipedia-style path).
func cut(u string) string {
	for u != "" {
		last := u[len(u)-1]
		switch {
		case strings.ContainsRune(".,;:!?", rune(last)):
			u = u[:len(u)-1]
		case last == ')' && strings.Count(u, "(") < strings.Count(u, ")"):
			u = u[:len(u)-1]
		case last == ']' && strings.Count(u, "[") < strings.Count(u, "]"):
			u = u[:len(u)-1]
		default:
			return u
		}
	}
	return u
}

type row struct {
	code, url, target string
}

// Rewrite returns r with every http(s) link of its text and buttons replaced
// by its tracked redirect, after recording the links; r unchanged when def's
// links are not tracked (links.track: false) or the message has none. Links
// already on the base URL (opt-in, unsubscribe) stay as they are; so do an
// email's HTML part (the email adapter tracks its clicks), images and the
// shop link a pay button keeps beside its invoice.
func (s *Service) Rewrite(ctx context.Context, def *campaigns.Definition, m Message, r templates.Rendered) (templates.Rendered, error) {
	if s == nil || def == nil || !def.TrackLinks() {
		return r, nil
	}
	var secret []byte
	byURL := map[string]string{} // link as written → its tracked URL
	var rows []row
	track := func(raw string) (string, error) {
		if raw == "" || strings.HasPrefix(raw, s.base+"/") || raw == s.base {
			return raw, nil
		}
		if t, ok := byURL[raw]; ok {
			return t, nil
		}
		if u, err := url.Parse(raw); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return raw, nil
		}
		if secret == nil {
			k, err := s.key(ctx)
			if err != nil {
				return "", err
			}
			secret = k
		}
		code := Code(secret, m.Key, raw)
		rows = append(rows, row{code: code, url: raw, target: Target(raw, def, m, code)})
		byURL[raw] = s.URL(code)
		return byURL[raw], nil
	}
	var err error
	out := r
	out.Text = urlRe.ReplaceAllStringFunc(r.Text, func(match string) string {
		link := cut(match)
		raw := link
		if r.Format == channels.HTML {
			raw = html.UnescapeString(link) // an href's &amp;
		}
		t, e := track(raw)
		if e != nil {
			err = e
			return match
		}
		if t == raw {
			return match
		}
		return t + match[len(link):]
	})
	if err != nil {
		return r, err
	}
	if len(r.Buttons) > 0 {
		out.Buttons = append([]channels.Button(nil), r.Buttons...)
		for i, b := range out.Buttons {
			if b.URL == "" || b.Pay != nil {
				continue // an invoice's button is paid in the chat, not followed (package payments)
			}
			if out.Buttons[i].URL, err = track(b.URL); err != nil {
				return r, err
			}
		}
	}
	if len(rows) == 0 {
		return r, nil
	}
	if err := s.save(ctx, def, m, rows); err != nil {
		return r, err
	}
	if r.Segments > 0 {
		out.Segments = templates.CountSMS(out.Text).Segments
	}
	return out, nil
}
