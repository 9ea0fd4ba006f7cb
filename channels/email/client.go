package email

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/nudge-engine/nudge/channels"
)

// Client sends through one SMTP relay, one connection per message.
type Client struct {
	cfg     Config
	tracker *Tracker
	now     func() time.Time
	opts    []gomail.Option // extra options (tests: dial function)
	hc      *http.Client    // fetches documents to attach (attach.go)
}

// New returns a client. hc fetches the documents it attaches (nil: the
// adapters' default client).
func New(cfg Config, hc *http.Client) *Client {
	return &Client{cfg: cfg, tracker: cfg.Tracker(), now: time.Now, hc: hc}
}

// Kind is channels.Email.
func (c *Client) Kind() channels.Kind { return channels.Email }

func (c *Client) options() []gomail.Option {
	// WithPort always: with NoTLS go-mail otherwise silently dials port 25.
	opts := []gomail.Option{gomail.WithPort(c.cfg.Port)}
	switch c.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.cfg.Timeout > 0 {
		opts = append(opts, gomail.WithTimeout(c.cfg.Timeout))
	}
	if c.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(c.cfg.HELO))
	}
	if c.cfg.Username != "" {
		mech := map[string]gomail.SMTPAuthType{
			"plain": gomail.SMTPAuthPlain, "login": gomail.SMTPAuthLogin, "cram-md5": gomail.SMTPAuthCramMD5,
		}[c.cfg.Auth]
		if mech == "" {
			mech = gomail.SMTPAuthAutoDiscover
		}
		opts = append(opts, gomail.WithSMTPAuth(mech),
			gomail.WithUsername(c.cfg.Username), gomail.WithPassword(c.cfg.Password))
	}
	// Ask for failure DSNs with headers only: bounces come back to the
	// envelope sender and carry our Message-ID.
	opts = append(opts, gomail.WithDSNMailReturnType(gomail.DSNMailReturnHeadersOnly),
		gomail.WithDSNRcptNotifyType(gomail.DSNRcptNotifyFailure))
	return append(opts, c.opts...)
}

// MessageID returns the Message-ID (without angle brackets) the adapter uses
// for m: derived from the idempotency key, so a retry of the same intent
// reuses it and receivers and status lookups see one message.
func (c *Client) MessageID(m channels.Message) string {
	domain := "nudge.invalid"
	if a, err := mail.ParseAddress(c.cfg.From); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
			domain = a.Address[i+1:]
		}
	}
	if m.IdempotencyKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "@" + domain
	}
	sum := sha256.Sum256([]byte(m.IdempotencyKey))
	return hex.EncodeToString(sum[:16]) + ".nudge@" + domain
}

// Build renders m as a go-mail message: text part, HTML alternative (with
// tracking when configured), List-Unsubscribe headers.
func (c *Client) Build(m channels.Message) (*gomail.Msg, string, error) {
	if m.Text == "" && m.HTML == "" {
		return nil, "", &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: "empty message"}
	}
	msg := gomail.NewMsg()
	if err := msg.From(c.cfg.From); err != nil {
		return nil, "", &channels.Error{Kind: channels.Invalid, Code: "from", Message: err.Error()}
	}
	if err := msg.To(m.To); err != nil {
		return nil, "", &channels.Error{Kind: channels.Invalid, Code: "to", Message: err.Error()}
	}
	id := c.MessageID(m)
	msg.SetMessageIDWithValue(id)
	msg.SetDateWithValue(c.now())
	msg.Subject(m.Subject)
	msg.SetUserAgent("Nudge")
	if m.UnsubscribeURL == "" && c.tracker != nil {
		m.UnsubscribeURL = c.tracker.UnsubscribeURL(c.cfg.Account, m.To)
	}
	if m.UnsubscribeURL != "" {
		var extra []string
		if c.cfg.UnsubscribeMailto != "" {
			extra = append(extra, "mailto:"+c.cfg.UnsubscribeMailto+"?subject=unsubscribe")
		}
		// RFC 8058 one-click needs HTTPS; a plain-HTTP URL (local demo)
		// gets List-Unsubscribe without the one-click POST header.
		if err := msg.SetListUnsubscribeOneClick(m.UnsubscribeURL, extra...); err != nil {
			msg.SetListUnsubscribe(append([]string{m.UnsubscribeURL}, extra...)...)
		}
	}
	text, htmlPart := m.Text, m.HTML
	var links strings.Builder
	for _, b := range m.Buttons {
		if b.URL == "" {
			continue
		}
		text += "\n\n" + b.Text + ": " + b.URL
		fmt.Fprintf(&links, `<p><a href="%s">%s</a></p>`, html.EscapeString(b.URL), html.EscapeString(b.Text))
	}
	if htmlPart != "" && links.Len() > 0 {
		htmlPart = insertBeforeBodyEnd(htmlPart, links.String())
	}
	if htmlPart != "" && c.tracker != nil {
		htmlPart = c.tracker.Instrument(htmlPart, c.cfg.Account, id, m.UnsubscribeURL)
	}
	text = strings.TrimPrefix(text, "\n\n")
	switch {
	case text != "" && htmlPart != "":
		msg.SetBodyString(gomail.TypeTextPlain, text)
		msg.AddAlternativeString(gomail.TypeTextHTML, htmlPart)
	case htmlPart != "":
		msg.SetBodyString(gomail.TypeTextHTML, htmlPart)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, text)
	}
	return msg, id, nil
}

// Send delivers m to the relay. The result's ProviderID is the Message-ID
// (no angle brackets), which bounces and tracking refer to.
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	msg, id, err := c.Build(m)
	if err != nil {
		return channels.Result{}, err
	}
	if m.Document != nil {
		if err := c.attach(ctx, msg, m.Document); err != nil {
			return channels.Result{}, err
		}
	}
	cl, err := gomail.NewClient(c.cfg.Host, c.options()...)
	if err != nil {
		return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "config", Message: err.Error()}
	}
	if err := cl.DialAndSendWithContext(ctx, msg); err != nil {
		return channels.Result{}, Classify(err)
	}
	return channels.Result{ProviderID: id, SentAt: c.now()}, nil
}

// Classify maps an SMTP failure to a channels.Error: a 5xx refusal of the
// recipient with a 5.1.x/5.2.x status (no such mailbox, disabled, full) or a
// bare 550 → NotReachable; other 5xx → Invalid; 4.7.x → RateLimited; other
// 4xx and anything before an SMTP reply (dial, TLS, timeout) → Transient.
func Classify(err error) *channels.Error {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.ErrorCode() == 0 {
		// Failures while connecting: a permanent SMTP reply there (535
		// authentication failed, 554 no service) is configuration; anything
		// else (dial, TLS, 421, 454) may pass.
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return &channels.Error{Kind: channels.Invalid, Code: strconv.Itoa(te.Code), Message: err.Error()}
		}
		return &channels.Error{Kind: channels.Transient, Code: "transport", Message: err.Error()}
	}
	code, esc := se.ErrorCode(), se.EnhancedStatusCode()
	// go-mail appends the recipient addresses; keep them out of errors
	// that end up in logs and the messages table.
	msg, _, _ := strings.Cut(err.Error(), ", affected recipient(s):")
	e := &channels.Error{Code: strconv.Itoa(code), Message: msg}
	if esc != "" {
		e.Code += " " + esc
	}
	switch {
	case code >= 500 && se.Reason == gomail.ErrSMTPRcptTo &&
		(strings.HasPrefix(esc, "5.1.") || strings.HasPrefix(esc, "5.2.") || (esc == "" && (code == 550 || code == 551 || code == 553))):
		e.Kind = channels.NotReachable
	case code >= 500:
		e.Kind = channels.Invalid
	case strings.HasPrefix(esc, "4.7."):
		e.Kind, e.RetryAfter = channels.RateLimited, time.Minute
	default:
		e.Kind = channels.Transient
	}
	return e
}

func insertBeforeBodyEnd(doc, frag string) string {
	if i := strings.LastIndex(strings.ToLower(doc), "</body>"); i >= 0 {
		return doc[:i] + frag + doc[i:]
	}
	return doc + frag
}

var _ channels.Sender = (*Client)(nil)
