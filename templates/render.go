package templates

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"strings"
	"sync"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// Subscriber is what templates may read about the recipient.
type Subscriber struct {
	ID         int64
	ExternalID string
	Name       string
	Locale     string
	TimeZone   string
	Attributes map[string]any
}

// Data is the dot of every template.
type Data struct {
	Subscriber Subscriber
	Payload    map[string]any // trigger/event payload and run context
	Now        time.Time
	CampaignID string
}

// Rendered is one message ready for a channel adapter. Its JSON form is what
// the worker stores in messages.content (the channel is a column there).
type Rendered struct {
	Channel  channels.Kind         `json:"-"`
	Locale   string                `json:"locale,omitempty"` // the locale of the variant used
	Text     string                `json:"text"`
	Format   channels.Format       `json:"format,omitempty"`
	Subject  string                `json:"subject,omitempty"`
	HTML     string                `json:"html,omitempty"`
	ImageURL string                `json:"image,omitempty"`
	Images   []string              `json:"images,omitempty"`   // an album (media.go)
	Document *channels.DocumentRef `json:"document,omitempty"` // a file, where the channel sends files
	Buttons  []channels.Button     `json:"buttons,omitempty"`
	Template *channels.TemplateRef `json:"template,omitempty"`
	Tag      string                `json:"tag,omitempty"`
	// FreeForm: the channel's 24h window was open when the message was
	// composed, so its free-form parts go and Template / Tag are kept only
	// for a retry when the provider answers that the window has closed.
	FreeForm bool `json:"free_form,omitempty"`
	Segments int  `json:"segments,omitempty"` // SMS segments (GSM-7 / UCS-2), 0 elsewhere
}

// Sentinel errors (wrapped by *Error).
var (
	ErrNoTemplate = errors.New("no such template")
	ErrNoVariant  = errors.New("no variant for the channel")
	ErrSyntax     = errors.New("template syntax")
	ErrExec       = errors.New("template execution")
	ErrLimit      = errors.New("channel limit exceeded")
)

// Error is a render failure naming where it happened. Every render error is
// permanent for that message: retrying cannot fix it.
type Error struct {
	Template string
	Channel  channels.Kind
	Variant  string // the channel key of the variant used ("telegram" or "default")
	Locale   string
	Part     string // "text", "subject", "html", "buttons[0].text", …
	Rule     string // a Rule… constant for limit and syntax errors
	Problems []Problem
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "template %q", e.Template)
	if e.Variant != "" {
		fmt.Fprintf(&b, " (%s variant %s/%s)", e.Channel, e.Variant, e.Locale)
	} else {
		fmt.Fprintf(&b, " (%s)", e.Channel)
	}
	if e.Part != "" {
		fmt.Fprintf(&b, " %s", e.Part)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ": %s", e.Rule)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Option configures a Renderer.
type Option func(*Renderer)

// WithMaxSMSSegments sets the most SMS segments a rendered text may take
// (default 6); more is an error with Rule sms_segments.
func WithMaxSMSSegments(n int) Option { return func(r *Renderer) { r.maxSegments = n } }

// Renderer caches parsed templates per (campaign, version, template,
// channel, subscriber locale) and is safe for concurrent use. Versions are immutable,
// so a cached entry never goes stale; an empty version (a preview of an
// unapplied file) is parsed every time and not cached.
type Renderer struct {
	maxSegments int
	mu          sync.RWMutex
	cache       map[cacheKey]*compiled
}

type cacheKey struct {
	campaign, version, name string
	ch                      channels.Kind
	locale                  string // the subscriber's, as given
}

// NewRenderer returns a Renderer with an empty cache.
func NewRenderer(opts ...Option) *Renderer {
	r := &Renderer{maxSegments: DefaultMaxSegments, cache: map[cacheKey]*compiled{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// maxOutput caps what one part may print.
const maxOutput = 64 << 10

// Render picks the variant for channel ch (or "default") and the subscriber
// locale (see the package doc for the fallback order), executes it, escapes
// subscriber data for the channel's format and checks the channel's limits.
func (r *Renderer) Render(version string, def *campaigns.Definition, name string, ch channels.Kind, d Data) (Rendered, error) {
	c, err := r.compiled(version, def, name, ch, d.Subscriber.Locale)
	if err != nil {
		return Rendered{}, err
	}
	v, chanKey, loc := c.v, c.chanKey, c.loc
	fail := func(part, rule string, err error) (Rendered, error) {
		return Rendered{}, &Error{Template: name, Channel: ch, Variant: chanKey, Locale: loc, Part: part, Rule: rule, Err: err}
	}
	cl := c.pool.Get().(*clone)
	defer c.pool.Put(cl)
	cl.st.loc = r.zone(d.Subscriber.TimeZone)
	cl.st.lang = c.lang
	var buf limitedBuffer
	var dot any = &d // boxed once for every part
	exec := func(part string) (string, error) {
		buf.Reset()
		if err := cl.text.ExecuteTemplate(&buf, part, dot); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	out := Rendered{Channel: ch, Locale: loc, Format: channels.Plain}
	if c.telegramHTML {
		out.Format = channels.HTML
	}
	if ch == channels.Messenger || ch == channels.Sandbox {
		out.Tag = v.Tag
	}
	for _, p := range []struct {
		name string
		dst  *string
		src  string
	}{{"text", &out.Text, v.Text}, {"subject", &out.Subject, v.Subject}, {"image", &out.ImageURL, v.Image}} {
		if p.src == "" {
			continue
		}
		s, err := exec(p.name)
		if err != nil {
			return fail(p.name, "", fmt.Errorf("%w: %w", ErrExec, err))
		}
		*p.dst = s
	}
	nImages, doc, perr := renderMedia(c, v, exec, &out)
	if perr != nil {
		return fail(perr.part, "", fmt.Errorf("%w: %w", ErrExec, perr.err))
	}
	if cl.html != nil {
		buf.Reset()
		if err := cl.html.ExecuteTemplate(&buf, "html", dot); err != nil {
			return fail("html", "", fmt.Errorf("%w: %w", ErrExec, err))
		}
		out.HTML = buf.String()
	}
	if ch == channels.Email && cl.html == nil && out.Text != "" {
		out.HTML = textToHTML(out.Text, append([]string{out.ImageURL}, out.Images...)...)
	}
	out.ImageURL = strings.TrimSpace(out.ImageURL)
	if len(v.Buttons) > 0 {
		out.Buttons = make([]channels.Button, len(v.Buttons))
	}
	for i, b := range v.Buttons {
		out.Buttons[i].ID = b.ID
		t, err := exec(c.parts.buttonText[i])
		if err != nil {
			return fail(c.parts.buttonText[i], "", fmt.Errorf("%w: %w", ErrExec, err))
		}
		out.Buttons[i].Text = strings.TrimSpace(t)
		if b.URL != "" {
			u, err := exec(c.parts.buttonURL[i])
			if err != nil {
				return fail(c.parts.buttonURL[i], "", fmt.Errorf("%w: %w", ErrExec, err))
			}
			out.Buttons[i].URL = strings.TrimSpace(u)
		}
		if b.Pay != nil {
			if err := payButton(&out, i, b.Pay, ch); err != nil {
				return fail(c.parts.buttonText[i], "", err)
			}
		}
	}
	if wt := v.WhatsAppTemplate; wt != nil && (ch == channels.WhatsApp || ch == channels.Sandbox) {
		ref := &channels.TemplateRef{Name: wt.Name, Language: wt.Language, Carousel: wt.Carousel}
		for i := range wt.Params {
			p, err := exec(c.parts.params[i])
			if err != nil {
				return fail(c.parts.params[i], "", fmt.Errorf("%w: %w", ErrExec, err))
			}
			ref.Params = append(ref.Params, p)
		}
		for _, names := range c.parts.cards {
			card := make([]string, len(names))
			for j, name := range names {
				p, err := exec(name)
				if err != nil {
					return fail(name, "", fmt.Errorf("%w: %w", ErrExec, err))
				}
				card[j] = p
			}
			ref.Cards = append(ref.Cards, card)
		}
		out.Template = ref
	}
	m := message{text: out.Text, subject: out.Subject, image: out.ImageURL, hasTemplate: out.Template != nil,
		images: out.Images, imageTotal: nImages, document: doc}
	if len(out.Buttons) > 0 {
		m.buttons = make([]campaigns.Button, len(out.Buttons))
		for i, b := range out.Buttons {
			m.buttons[i] = campaigns.Button{ID: b.ID, Text: b.Text, URL: b.URL}
			if b.Pay != nil {
				m.buttons[i].Pay = &campaigns.Pay{}
			}
		}
	}
	if ps := check(ch, m, r.maxSegments, false); len(ps) > 0 {
		e := &Error{Template: name, Channel: ch, Variant: chanKey, Locale: loc, Part: ps[0].Path, Rule: ps[0].Rule, Problems: ps,
			Err: fmt.Errorf("%w: %s", ErrLimit, ps[0].Msg)}
		return Rendered{}, e
	}
	if ch == channels.SMS {
		out.Segments = CountSMS(out.Text).Segments
	}
	return out, nil
}

// Message turns r into the channel message for an adapter; the caller adds
// IdempotencyKey, To, Account, Correlation and UnsubscribeURL. The WhatsApp
// template and the Messenger tag are included only outside the 24h window
// (policy.Decision.OutsideWindow): inside it the free-form message is sent.
func (r Rendered) Message(outsideWindow bool) channels.Message {
	m := channels.Message{Channel: r.Channel, Text: r.Text, Format: r.Format, Subject: r.Subject, HTML: r.HTML,
		ImageURL: r.ImageURL, Images: r.Images, Document: r.Document, Buttons: r.Buttons}
	if outsideWindow {
		m.Template, m.Tag = r.Template, r.Tag
	}
	return m
}

func (r *Renderer) zone(name string) *time.Location { return Zone(name) }

// limitedBuffer fails writes past maxOutput so a template cannot print
// without bound.
type limitedBuffer struct{ bytes.Buffer }

var errTooMuchOutput = fmt.Errorf("output longer than %d bytes", maxOutput)

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxOutput {
		return 0, errTooMuchOutput
	}
	return b.Buffer.Write(p)
}

func (b *limitedBuffer) WriteString(s string) (int, error) {
	if b.Len()+len(s) > maxOutput {
		return 0, errTooMuchOutput
	}
	return b.Buffer.WriteString(s)
}

// textToHTML makes the HTML part of an email whose variant has none, from
// the rendered plain text: escaped, blank lines start paragraphs, single
// newlines become <br>. Email needs an HTML part for open tracking (the
// "read" status the fallback ladder may wait for).
func textToHTML(text string, images ...string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><body>\n")
	for _, img := range images {
		if img = strings.TrimSpace(img); img != "" {
			fmt.Fprintf(&b, "<p><img src=\"%s\" alt=\"\" style=\"max-width:100%%\"></p>\n", html.EscapeString(img))
		}
	}
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		lines := strings.Split(strings.Trim(para, "\n"), "\n")
		for i := range lines {
			lines[i] = html.EscapeString(lines[i])
		}
		fmt.Fprintf(&b, "<p>%s</p>\n", strings.Join(lines, "<br>\n"))
	}
	b.WriteString("</body></html>\n")
	return b.String()
}
