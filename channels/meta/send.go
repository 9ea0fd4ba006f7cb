package meta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Limits the Messenger Platform's Send API shares between Messenger and
// Instagram.
const (
	MaxQuickReplies    = 13
	MaxTitle           = 20 // quick reply and button titles
	MaxPayload         = 1000
	MaxTemplateText    = 640 // button template text
	MaxTemplateButtons = 3
)

// SendRules is what differs between the products that share the Send API
// body ({"recipient":{"id"},"messaging_type","tag","message"}).
type SendRules struct {
	Product string          // "Messenger" | "Instagram", for errors
	Tags    map[string]bool // tags allowed with messaging_type MESSAGE_TAG
	// MessagingType is sent inside the 24-hour window: Messenger's UPDATE,
	// Instagram's RESPONSE.
	MessagingType string
	MaxText       int  // text limit
	TextBytes     bool // MaxText counts UTF-8 bytes (Instagram), not characters
	// ButtonTemplate sends link buttons as a button template (Messenger);
	// without it they are appended to the text as "title: URL" lines.
	ButtonTemplate bool
	ReusableImage  bool // image payloads carry is_reusable (Messenger)
	// Media builds the messages of an album and a document, sent before
	// the text (Messenger's carousel and file, rich.go there); nil: the
	// product sends neither.
	Media func(m channels.Message) ([]map[string]any, error)
}

// Messages is the Send API of one page or Instagram account.
type Messages struct {
	Graph *Graph
	Path  string // "/me/messages" or "/<IG_ID>/messages"
	Rules SendRules
	Now   func() time.Time
}

// NewMessages is the Send API of one account: POSTs to apiURL+path with
// token as the bearer; hc nil means the adapters' client
// (channels.HTTPClient).
func NewMessages(apiURL, token, path string, rules SendRules, hc *http.Client) *Messages {
	return &Messages{Graph: &Graph{BaseURL: apiURL, Token: token, HC: hc}, Path: path, Rules: rules, Now: time.Now}
}

type sendAnswer struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// Send posts the message. The Send API has no captioned image, so a message
// with both ImageURL and text goes out as two requests, the image first; the
// result is the text's mid. Each request is a part (channels.SendParts): if
// a later one fails the error says which and how many went, and the
// worker's retry resumes at it.
func (s *Messages) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	reqs, err := s.Rules.Requests(m)
	if err != nil {
		return channels.Result{}, err
	}
	parts := make([]channels.Part, len(reqs))
	for i, req := range reqs {
		parts[i] = func(ctx context.Context) (channels.Result, error) {
			var ans sendAnswer
			if err := s.Graph.Post(ctx, s.Path, req, &ans); err != nil {
				ce := classifySend(err)
				if i > 0 {
					ce.Message = fmt.Sprintf("part %d of %d: %s", i+1, len(reqs), ce.Message)
				}
				return channels.Result{}, ce
			}
			if ans.MessageID == "" && i == len(reqs)-1 {
				return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "no_message_id", Message: "answer carries no message_id"}
			}
			return channels.Result{ProviderID: ans.MessageID, SentAt: s.Now()}, nil
		}
	}
	return channels.SendParts(ctx, m, parts)
}

func invalid(format string, args ...any) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: fmt.Sprintf(format, args...)}
}

// Requests builds the Send API bodies for m (one, or two for image + text;
// an album and a document come first, SendRules.Media).
// Reply buttons become quick replies; when link buttons are present, the
// rules allow a button template and all buttons fit one (≤3), the text goes
// out as a button template with web_url and postback buttons instead.
func (r SendRules) Requests(m channels.Message) ([]map[string]any, error) {
	base := func() map[string]any {
		b := map[string]any{"recipient": map[string]string{"id": m.To}, "messaging_type": r.MessagingType}
		if m.Tag != "" {
			b["messaging_type"], b["tag"] = "MESSAGE_TAG", m.Tag
		}
		return b
	}
	if m.Tag != "" && !r.Tags[m.Tag] {
		return nil, invalid("unknown %s message tag %q", r.Product, m.Tag)
	}
	if m.To == "" {
		return nil, invalid("no recipient id")
	}
	var out []map[string]any
	if r.Media != nil {
		media, err := r.Media(m)
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
	}
	if m.ImageURL != "" {
		b := base()
		payload := map[string]any{"url": m.ImageURL}
		if r.ReusableImage {
			payload["is_reusable"] = true
		}
		msg := map[string]any{"attachment": map[string]any{"type": "image", "payload": payload}}
		if m.Text == "" {
			if err := r.addQuickReplies(msg, m.Buttons); err != nil {
				return nil, err
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
	if r.ButtonTemplate && hasURL && len(m.Buttons) <= MaxTemplateButtons {
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
	if r.TextBytes && len(text) > r.MaxText {
		return nil, invalid("text longer than %d bytes", r.MaxText)
	}
	if !r.TextBytes && utf8.RuneCountInString(text) > r.MaxText {
		return nil, invalid("text longer than %d characters", r.MaxText)
	}
	msg := map[string]any{"text": text}
	if err := r.addQuickReplies(msg, replies); err != nil {
		return nil, err
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

// addQuickReplies puts the reply buttons of bs on msg as quick replies.
func (r SendRules) addQuickReplies(msg map[string]any, bs []channels.Button) error {
	qr, err := r.quickReplies(bs)
	if err == nil && len(qr) > 0 {
		msg["quick_replies"] = qr
	}
	return err
}

func (r SendRules) quickReplies(bs []channels.Button) ([]map[string]string, error) {
	if len(bs) > MaxQuickReplies {
		return nil, invalid("%d quick replies, %s allows %d", len(bs), r.Product, MaxQuickReplies)
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
	var ge *GraphError
	if errors.As(err, &ge) {
		return Classify(ge.Status, ge.Code, ge.Subcode, ge.Message)
	}
	return &channels.Error{Kind: channels.Transient, Code: "transport", Message: err.Error()}
}

// rateBackoff is how long to wait after 613/4/32: Graph gives no Retry-After
// and its page limits are counted over minutes.
const rateBackoff = time.Minute

// Send API subcodes of code 10 that mean "outside the allowed window":
// Messenger's 2018278 and Instagram's 2534022.
const (
	SubcodeWindowMessenger = 2018278
	SubcodeWindowInstagram = 2534022
)

// Classify maps a Send API error (HTTP status, code, subcode) of Messenger
// or Instagram to a channels.Error. Code is "code" or "code/subcode".
func Classify(status, code, subcode int, msg string) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(code), Message: msg}
	if subcode != 0 {
		e.Code += "/" + strconv.Itoa(subcode)
	}
	switch {
	case code == 10 && (subcode == SubcodeWindowMessenger || subcode == SubcodeWindowInstagram):
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
		ClassifyStatus(e, status, rateBackoff)
	case status >= 500:
		e.Kind = channels.Transient
	default:
		e.Kind = channels.Invalid // 190 token, 10 permission, 100 parameter, …
	}
	return e
}
