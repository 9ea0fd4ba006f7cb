package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// Limits of the Cloud API message objects.
const (
	MaxButtons     = 3
	MaxButtonTitle = 20
	MaxButtonID    = 256
	MaxBodyText    = 1024 // interactive body and media caption
	MaxText        = 4096
	MaxCorrelation = 512
)

// Client sends through one business phone number.
type Client struct {
	cfg   Config
	graph *meta.Graph
	now   func() time.Time
}

// New returns a client; hc nil means the adapters' client (channels.HTTPClient).
func New(cfg Config, hc *http.Client) *Client {
	return &Client{cfg: cfg, graph: &meta.Graph{BaseURL: cfg.APIURL, Token: cfg.Token, HC: hc}, now: time.Now}
}

// Kind is channels.WhatsApp.
func (c *Client) Kind() channels.Kind { return channels.WhatsApp }

type sendAnswer struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// Send posts one message. Its provider id is the wamid statuses refer to.
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	if len(m.Images) > 0 && m.Template == nil {
		return c.sendAlbum(ctx, m) // rich.go
	}
	build := Payload
	if m.Document != nil {
		build = withDocument // rich.go
	}
	body, err := build(m)
	if err != nil {
		return channels.Result{}, err
	}
	return c.post(ctx, body)
}

// post sends one message object.
func (c *Client) post(ctx context.Context, body map[string]any) (channels.Result, error) {
	var ans sendAnswer
	if err := c.graph.Post(ctx, "/"+c.cfg.PhoneNumberID+"/messages", body, &ans); err != nil {
		return channels.Result{}, classifySend(err)
	}
	if len(ans.Messages) == 0 || ans.Messages[0].ID == "" {
		return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "no_message_id", Message: "answer carries no message id"}
	}
	return channels.Result{ProviderID: ans.Messages[0].ID, SentAt: c.now()}, nil
}

func invalid(format string, args ...any) error {
	return &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: fmt.Sprintf(format, args...)}
}

// Payload builds the Cloud API message object for m: a template when
// m.Template is set, interactive reply buttons when m has reply buttons (with
// the image as header), a captioned image, or text. Link buttons have no
// place in a reply-button message and are appended to the text as
// "label: URL" lines. Limits are checked here so an over-long message fails
// as Invalid before it costs a request.
func Payload(m channels.Message) (map[string]any, error) {
	p := map[string]any{
		"messaging_product": "whatsapp",
		"recipient_type":    "individual",
		"to":                strings.TrimPrefix(m.To, "+"),
	}
	if m.Correlation != "" {
		if len(m.Correlation) > MaxCorrelation {
			return nil, invalid("correlation longer than %d bytes", MaxCorrelation)
		}
		p["biz_opaque_callback_data"] = m.Correlation
	}
	if m.Template != nil {
		p["type"] = "template"
		if m.Template.Carousel {
			if n := len(m.Images); n < 2 || n > MaxCards {
				return nil, invalid("carousel template %q needs 2-%d images for its cards, the message has %d", m.Template.Name, MaxCards, n)
			}
		}
		p["template"] = templateObject(m.Template, m.Buttons, m.Images)
		return p, nil
	}
	text := m.Text
	var replies []channels.Button
	for _, b := range m.Buttons {
		if b.URL != "" {
			text += "\n" + b.Text + ": " + b.URL
			continue
		}
		replies = append(replies, b)
	}
	text = strings.TrimPrefix(text, "\n")
	switch {
	case len(replies) > 0:
		if len(replies) > MaxButtons {
			return nil, invalid("%d reply buttons, WhatsApp allows %d", len(replies), MaxButtons)
		}
		if text == "" {
			return nil, invalid("interactive message needs a body text")
		}
		if utf8.RuneCountInString(text) > MaxBodyText {
			return nil, invalid("interactive body longer than %d characters", MaxBodyText)
		}
		btns := make([]map[string]any, 0, len(replies))
		for _, b := range replies {
			if n := utf8.RuneCountInString(b.Text); n == 0 || n > MaxButtonTitle {
				return nil, invalid("button title %q must be 1..%d characters", b.Text, MaxButtonTitle)
			}
			if b.ID == "" || len(b.ID) > MaxButtonID {
				return nil, invalid("button id must be 1..%d bytes", MaxButtonID)
			}
			btns = append(btns, map[string]any{"type": "reply", "reply": map[string]string{"id": b.ID, "title": b.Text}})
		}
		inter := map[string]any{
			"type":   "button",
			"body":   map[string]string{"text": text},
			"action": map[string]any{"buttons": btns},
		}
		if m.ImageURL != "" {
			inter["header"] = map[string]any{"type": "image", "image": map[string]string{"link": m.ImageURL}}
		}
		p["type"] = "interactive"
		p["interactive"] = inter
	case m.ImageURL != "":
		if utf8.RuneCountInString(text) > MaxBodyText {
			return nil, invalid("image caption longer than %d characters", MaxBodyText)
		}
		img := map[string]string{"link": m.ImageURL}
		if text != "" {
			img["caption"] = text
		}
		p["type"] = "image"
		p["image"] = img
	default:
		if text == "" {
			return nil, invalid("empty message")
		}
		if utf8.RuneCountInString(text) > MaxText {
			return nil, invalid("text longer than %d characters", MaxText)
		}
		p["type"] = "text"
		p["text"] = map[string]any{"body": text, "preview_url": strings.Contains(text, "https://")}
	}
	return p, nil
}

// templateObject builds an approved-template send: Params fill the body's
// {{1}}, {{2}}, …; reply buttons with ids become the quick-reply payloads of
// the template's buttons in order. A carousel's buttons are its cards'
// (the template has none of its own): each card gets the same payloads.
func templateObject(t *channels.TemplateRef, buttons []channels.Button, images []string) map[string]any {
	var comps []map[string]any
	if c := textComponent("body", t.Params); c != nil {
		comps = append(comps, c)
	}
	if t.Carousel {
		comps = append(comps, carouselComponent(images, t.Cards, buttons))
	} else {
		comps = append(comps, quickReplies(buttons)...)
	}
	obj := map[string]any{
		"name":     t.Name,
		"language": map[string]string{"code": t.Language, "policy": "deterministic"},
	}
	if len(comps) > 0 {
		obj["components"] = comps
	}
	return obj
}

// textComponent is a template component of kind (body) filled with
// params as text parameters; nil when there are none.
func textComponent(kind string, params []string) map[string]any {
	if len(params) == 0 {
		return nil
	}
	ps := make([]map[string]string, len(params))
	for i, v := range params {
		ps[i] = map[string]string{"type": "text", "text": v}
	}
	return map[string]any{"type": kind, "parameters": ps}
}

// quickReplies are the button components giving the template's quick-reply
// buttons, in order, the ids of the reply buttons as payloads.
func quickReplies(buttons []channels.Button) []map[string]any {
	var comps []map[string]any
	i := 0
	for _, b := range buttons {
		if b.ID == "" {
			continue
		}
		comps = append(comps, map[string]any{
			"type": "button", "sub_type": "quick_reply", "index": strconv.Itoa(i),
			"parameters": []map[string]string{{"type": "payload", "payload": b.ID}},
		})
		i++
	}
	return comps
}

func classifySend(err error) error {
	var ge *meta.GraphError
	if errors.As(err, &ge) {
		return Classify(ge.Status, ge.Code, ge.Message+detail(ge.ErrorData.Details))
	}
	return &channels.Error{Kind: channels.Transient, Code: "transport", Message: err.Error()}
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return ": " + d
}

// Retry-after defaults: the Cloud API gives no Retry-After, so back off by
// what each limit means.
const (
	throughputBackoff = time.Second     // 130429: number throughput
	pairBackoff       = 6 * time.Second // 131056: one message per 6 s per recipient
	spamBackoff       = time.Minute     // 131048: spam rate limit
)

// Classify maps a Graph/WhatsApp error code (sync, or async from a failed
// status where status is 0) to a channels.Error.
func Classify(status, code int, msg string) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(code), Message: msg}
	switch code {
	case 131047, 470: // re-engagement: more than 24 h since the last inbound
		e.Kind = channels.WindowClosed
	case 131026, 131049, 131021, 131052, 131053:
		// not a WhatsApp user / cannot receive / marketing held back for
		// ecosystem engagement / recipient is the sender: try the next channel
		e.Kind = channels.NotReachable
	case 131050: // the user stopped marketing messages from this business
		e.Kind = channels.Blocked
	case 130429:
		e.Kind, e.RetryAfter = channels.RateLimited, throughputBackoff
	case 131056:
		e.Kind, e.RetryAfter = channels.RateLimited, pairBackoff
	case 131048, 4, 80007:
		e.Kind, e.RetryAfter = channels.RateLimited, spamBackoff
	case 1, 2, 131000, 131016, 133004: // unknown / service unavailable
		e.Kind = channels.Transient
	case 190: // token expired or revoked: needs an operator
		e.Kind = channels.Invalid
	case 0: // not Graph error JSON
		meta.ClassifyStatus(e, status, throughputBackoff)
	default:
		if status >= 500 {
			e.Kind = channels.Transient
		} else {
			e.Kind = channels.Invalid
		}
	}
	return e
}

var _ channels.Sender = (*Client)(nil)
