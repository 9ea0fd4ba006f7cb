package messenger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// Limits of the Send API.
const (
	MaxQuickReplies    = 13
	MaxTitle           = 20 // quick reply and button titles
	MaxPayload         = 1000
	MaxText            = 2000
	MaxTemplateText    = 640 // button template text
	MaxTemplateButtons = 3
)

// Tags allowed with messaging_type MESSAGE_TAG.
var Tags = map[string]bool{
	"ACCOUNT_UPDATE": true, "CONFIRMED_EVENT_UPDATE": true, "POST_PURCHASE_UPDATE": true, "HUMAN_AGENT": true,
}

// Client sends as one page.
type Client struct {
	cfg   Config
	graph *meta.Graph
	now   func() time.Time
}

// New returns a client; hc nil means the adapters' client (channels.HTTPClient).
func New(cfg Config, hc *http.Client) *Client {
	return &Client{cfg: cfg, graph: &meta.Graph{BaseURL: cfg.APIURL, Token: cfg.PageToken, HC: hc}, now: time.Now}
}

// Kind is channels.Messenger.
func (c *Client) Kind() channels.Kind { return channels.Messenger }

type sendAnswer struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// Send posts the message. Messenger has no captioned image, so a message
// with both ImageURL and text goes out as two requests, the image first; the
// result is the text's mid. If the second request fails the error says so
// and a retry resends the image too: keep images in Messenger variants
// without text when that matters.
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	reqs, err := Requests(m)
	if err != nil {
		return channels.Result{}, err
	}
	var ans sendAnswer
	for i, req := range reqs {
		ans = sendAnswer{}
		if err := c.graph.Post(ctx, "/me/messages", req, &ans); err != nil {
			ce := classifySend(err)
			if i > 0 {
				ce.Message = fmt.Sprintf("part %d of %d: %s", i+1, len(reqs), ce.Message)
			}
			return channels.Result{}, ce
		}
	}
	if ans.MessageID == "" {
		return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "no_message_id", Message: "answer carries no message_id"}
	}
	return channels.Result{ProviderID: ans.MessageID, SentAt: c.now()}, nil
}

func invalid(format string, args ...any) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: fmt.Sprintf(format, args...)}
}

// Requests builds the Send API bodies for m (one, or two for image + text;
// an album and a document come first, rich.go).
// Reply buttons become quick replies; when link buttons are present and all
// buttons fit a button template (≤3), the text goes out as a button template
// with web_url and postback buttons instead.
func Requests(m channels.Message) ([]map[string]any, error) {
	base := func() map[string]any {
		b := map[string]any{"recipient": map[string]string{"id": m.To}, "messaging_type": "UPDATE"}
		if m.Tag != "" {
			b["messaging_type"], b["tag"] = "MESSAGE_TAG", m.Tag
		}
		return b
	}
	if m.Tag != "" && !Tags[m.Tag] {
		return nil, invalid("unknown message tag %q", m.Tag)
	}
	if m.To == "" {
		return nil, invalid("no recipient PSID")
	}
	var out []map[string]any
	media, err := mediaMessages(m)
	if err != nil {
		return nil, err
	}
	for _, msg := range media {
		b := base()
		b["message"] = msg
		out = append(out, b)
	}
	if len(media) > 0 && m.Text == "" && len(m.Buttons) == 0 {
		return out, nil
	}
	if m.ImageURL != "" {
		b := base()
		msg := map[string]any{"attachment": map[string]any{"type": "image", "payload": map[string]any{"url": m.ImageURL, "is_reusable": true}}}
		if m.Text == "" {
			qr, err := quickReplies(m.Buttons)
			if err != nil {
				return nil, err
			}
			if len(qr) > 0 {
				msg["quick_replies"] = qr
			}
			b["message"] = msg
			return append(out, b), nil
		}
		b["message"] = msg
		out = append(out, b)
	}
	if m.Text == "" {
		return nil, invalid("empty message")
	}
	b := base()
	hasURL := false
	for _, x := range m.Buttons {
		hasURL = hasURL || x.URL != ""
	}
	if hasURL && len(m.Buttons) <= MaxTemplateButtons {
		if utf8.RuneCountInString(m.Text) > MaxTemplateText {
			return nil, invalid("button template text longer than %d characters", MaxTemplateText)
		}
		btns := make([]map[string]string, 0, len(m.Buttons))
		for _, x := range m.Buttons {
			if err := checkTitle(x); err != nil {
				return nil, err
			}
			if x.URL != "" {
				btns = append(btns, map[string]string{"type": "web_url", "url": x.URL, "title": x.Text})
			} else {
				btns = append(btns, map[string]string{"type": "postback", "title": x.Text, "payload": x.ID})
			}
		}
		b["message"] = map[string]any{"attachment": map[string]any{"type": "template", "payload": map[string]any{
			"template_type": "button", "text": m.Text, "buttons": btns,
		}}}
		return append(out, b), nil
	}
	text := m.Text
	var replies []channels.Button
	for _, x := range m.Buttons {
		if x.URL != "" {
			text += "\n" + x.Text + ": " + x.URL
		} else {
			replies = append(replies, x)
		}
	}
	if utf8.RuneCountInString(text) > MaxText {
		return nil, invalid("text longer than %d characters", MaxText)
	}
	msg := map[string]any{"text": text}
	qr, err := quickReplies(replies)
	if err != nil {
		return nil, err
	}
	if len(qr) > 0 {
		msg["quick_replies"] = qr
	}
	b["message"] = msg
	return append(out, b), nil
}

func checkTitle(b channels.Button) error {
	if n := utf8.RuneCountInString(b.Text); n == 0 || n > MaxTitle {
		return invalid("button title %q must be 1..%d characters", b.Text, MaxTitle)
	}
	if b.URL == "" && (b.ID == "" || len(b.ID) > MaxPayload) {
		return invalid("button payload must be 1..%d bytes", MaxPayload)
	}
	return nil
}

func quickReplies(bs []channels.Button) ([]map[string]string, error) {
	if len(bs) > MaxQuickReplies {
		return nil, invalid("%d quick replies, Messenger allows %d", len(bs), MaxQuickReplies)
	}
	var out []map[string]string
	for _, b := range bs {
		if b.URL != "" {
			continue
		}
		if err := checkTitle(b); err != nil {
			return nil, err
		}
		out = append(out, map[string]string{"content_type": "text", "title": b.Text, "payload": b.ID})
	}
	return out, nil
}

func classifySend(err error) *channels.Error {
	var ge *meta.GraphError
	if errors.As(err, &ge) {
		return Classify(ge.Status, ge.Code, ge.Subcode, ge.Message)
	}
	return &channels.Error{Kind: channels.Transient, Code: "transport", Message: err.Error()}
}

// rateBackoff is how long to wait after 613/4/32: Graph gives no Retry-After
// and its page limits are counted over minutes.
const rateBackoff = time.Minute

// Classify maps a Send API error (HTTP status, code, subcode) to a
// channels.Error. Code is "code" or "code/subcode".
func Classify(status, code, subcode int, msg string) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(code), Message: msg}
	if subcode != 0 {
		e.Code += "/" + strconv.Itoa(subcode)
	}
	switch {
	case code == 10 && subcode == 2018278:
		e.Kind = channels.WindowClosed // sent outside of the allowed window
	case code == 551, subcode == 1545041:
		// "This person isn't available right now": the person blocked the
		// page or turned messages off. Revoke this channel.
		e.Kind = channels.Blocked
	case code == 100 && (subcode == 2018001 || subcode == 2018109):
		e.Kind = channels.NotReachable // no matching user / user unavailable
	case code == 613, code == 4, code == 32, code == 17:
		e.Kind, e.RetryAfter = channels.RateLimited, rateBackoff
	case code == 1, code == 2:
		e.Kind = channels.Transient // "temporary issue", "service unavailable"
	case code == 0:
		e.Code = strconv.Itoa(status)
		switch {
		case status == http.StatusTooManyRequests:
			e.Kind, e.RetryAfter = channels.RateLimited, rateBackoff
		case status >= 500 || status == 0:
			e.Kind = channels.Transient
		default:
			e.Kind = channels.Invalid
		}
	case status >= 500:
		e.Kind = channels.Transient
	default:
		e.Kind = channels.Invalid // 190 token, 10 permission, 100 parameter, …
	}
	return e
}

var _ channels.Sender = (*Client)(nil)
