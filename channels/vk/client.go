package vk

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Limits of messages.send.
const (
	MaxText       = 4096
	MaxLabel      = 40
	MaxPayload    = 255
	MaxInlineRows = 6
)

// Client calls the VK API for one community. Safe for concurrent use.
type Client struct {
	cfg    Config
	api    channels.API
	photos PhotoCache
}

// New returns a client; hc nil means a client with a 30s timeout.
func New(cfg Config, hc *http.Client) *Client {
	return &Client{cfg: cfg, api: channels.NewAPI(cfg.APIURL, DefaultAPIURL, hc)}
}

// Kind is channels.VK.
func (c *Client) Kind() channels.Kind { return channels.VK }

// RandomID derives messages.send random_id from an idempotency key: FNV-1a
// folded to a positive int32, never 0 (0 would switch deduplication off).
// An empty key gets a random id.
func RandomID(key string) int32 {
	var v uint32
	if key == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		v = binary.LittleEndian.Uint32(b[:])
	} else {
		h := fnv.New32a()
		h.Write([]byte(key))
		v = h.Sum32()
	}
	id := int32(v & 0x7fffffff)
	if id == 0 {
		id = 1
	}
	return id
}

// Action is a keyboard button action.
type Action struct {
	Type    string `json:"type"`
	Label   string `json:"label,omitempty"`
	Payload string `json:"payload,omitempty"`
	Link    string `json:"link,omitempty"`
}

// KeyboardButton is one button.
type KeyboardButton struct {
	Action Action `json:"action"`
	Color  string `json:"color,omitempty"`
}

// Keyboard is the keyboard parameter of messages.send.
type Keyboard struct {
	OneTime bool               `json:"one_time"`
	Inline  bool               `json:"inline"`
	Buttons [][]KeyboardButton `json:"buttons"`
}

// ButtonPayload is the payload Nudge puts on reply buttons.
type ButtonPayload struct {
	Button string `json:"button"`
}

// BuildKeyboard lays buttons out as an inline keyboard, one per row.
func BuildKeyboard(bs []channels.Button) (*Keyboard, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	if len(bs) > MaxInlineRows {
		return nil, fmt.Errorf("%d buttons, VK inline keyboards allow %d rows", len(bs), MaxInlineRows)
	}
	kb := &Keyboard{Inline: true}
	for i, b := range bs {
		if b.Text == "" || utf8.RuneCountInString(b.Text) > MaxLabel {
			return nil, fmt.Errorf("button %d: label must be 1-%d characters", i, MaxLabel)
		}
		var kbb KeyboardButton
		switch {
		case b.URL != "":
			kbb.Action = Action{Type: "open_link", Label: b.Text, Link: b.URL}
		case b.ID != "":
			p, _ := json.Marshal(ButtonPayload{Button: b.ID})
			if len(p) > MaxPayload {
				return nil, fmt.Errorf("button %d: payload is %d bytes, VK allows %d", i, len(p), MaxPayload)
			}
			kbb = KeyboardButton{Action: Action{Type: "text", Label: b.Text, Payload: string(p)}, Color: "secondary"}
		default:
			return nil, fmt.Errorf("button %d: needs an id or a url", i)
		}
		kb.Buttons = append(kb.Buttons, []KeyboardButton{kbb})
	}
	return kb, nil
}

var attachmentRe = regexp.MustCompile(`^(photo|doc)-?\d+_\d+(_[0-9a-f]+)?$`)

func invalid(format string, args ...any) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Code: "local", Message: fmt.Sprintf(format, args...)}
}

// Params builds the messages.send parameters for m.
func Params(m channels.Message) (url.Values, error) {
	peer, err := strconv.ParseInt(m.To, 10, 64)
	if err != nil || peer == 0 {
		return nil, invalid("peer id %q is not a number", m.To)
	}
	text := m.Text
	v := url.Values{"peer_id": {m.To}, "random_id": {strconv.FormatInt(int64(RandomID(m.IdempotencyKey)), 10)}}
	// Uploaded photos are attachments (Send uploads URLs first); a URL
	// left here goes into the text as a link.
	var atts []string
	refs := append([]string{m.ImageURL}, m.Images...)
	if m.Document != nil {
		refs = append(refs, m.Document.URL)
	}
	for _, img := range refs {
		switch {
		case img == "":
		case attachmentRe.MatchString(img):
			atts = append(atts, img)
		default:
			if text != "" {
				text += "\n"
			}
			text += img
		}
	}
	if most := channels.MediaLimitsOf(channels.VK).AlbumMax; len(atts) > most {
		return nil, invalid("%d attachments, VK allows %d", len(atts), most)
	}
	if len(atts) > 0 {
		v.Set("attachment", strings.Join(atts, ","))
	}
	if n := utf8.RuneCountInString(text); n > MaxText || (n == 0 && v.Get("attachment") == "") {
		return nil, invalid("text is %d characters, VK allows 1-%d", n, MaxText)
	}
	if text != "" {
		v.Set("message", text)
	}
	kb, err := BuildKeyboard(m.Buttons)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if kb != nil {
		b, _ := json.Marshal(kb)
		v.Set("keyboard", string(b))
	}
	return v, nil
}

// Send uploads the message's images (once per URL with a PhotoCache) and
// calls messages.send with them as attachments; Result.ProviderID is the VK
// message id.
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	v, err := c.sendParams(ctx, m)
	if err != nil {
		return channels.Result{}, err
	}
	var id int64
	if err := c.Call(ctx, "messages.send", v, &id); err != nil {
		return channels.Result{}, err
	}
	return channels.Result{ProviderID: strconv.FormatInt(id, 10), SentAt: c.api.Now()}, nil
}

// sendParams is m's messages.send parameters, its images uploaded first
// (Send and SendBatch alike).
func (c *Client) sendParams(ctx context.Context, m channels.Message) (url.Values, error) {
	if _, err := strconv.ParseInt(m.To, 10, 64); err != nil {
		return nil, invalid("peer id %q is not a number", m.To)
	}
	m, err := c.uploadMedia(ctx, m)
	if err != nil {
		return nil, err
	}
	return Params(m)
}

// AnswerEvent stops the spinner of a callback button press.
func (c *Client) AnswerEvent(ctx context.Context, eventID string, userID, peerID int64) error {
	v := url.Values{"event_id": {eventID}, "user_id": {strconv.FormatInt(userID, 10)}, "peer_id": {strconv.FormatInt(peerID, 10)}}
	return c.Call(ctx, "messages.sendMessageEventAnswer", v, nil)
}

// APIError is the error object of a VK answer.
type APIError struct {
	Code    int    `json:"error_code"`
	Message string `json:"error_msg"`
}

// Call posts params to method and decodes "response" into out (may be nil).
func (c *Client) Call(ctx context.Context, method string, params url.Values, out any) error {
	params.Set("v", Version)
	resp, raw, err := c.api.Post(ctx, "/"+method, "application/x-www-form-urlencoded", []byte(params.Encode()),
		map[string]string{"Authorization": "Bearer " + c.cfg.Token}, method, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return channels.HTTPStatusError(method, resp.StatusCode)
	}
	var ar struct {
		Response json.RawMessage `json:"response"`
		Error    *APIError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &ar); err != nil || (ar.Error == nil && ar.Response == nil) {
		return &channels.Error{Kind: channels.Transient, Code: "http_200", Message: method + ": unreadable answer"}
	}
	if ar.Error != nil {
		return Classify(ar.Error.Code, ar.Error.Message)
	}
	if out != nil {
		if err := json.Unmarshal(ar.Response, out); err != nil {
			return &channels.Error{Kind: channels.Transient, Code: "http_200", Message: method + ": unreadable response"}
		}
	}
	return nil
}

// Classify maps a VK error code to a channels.Error (see the package doc).
func Classify(code int, msg string) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(code), Message: msg, Kind: channels.Invalid}
	switch code {
	case 900:
		e.Kind = channels.Blocked
	case 901, 902:
		e.Kind = channels.NotReachable
	case 6:
		e.Kind, e.RetryAfter = channels.RateLimited, time.Second
	case 9:
		e.Kind, e.RetryAfter = channels.RateLimited, time.Minute
	case 29:
		e.Kind, e.RetryAfter = channels.RateLimited, time.Hour
	case 1, 10:
		e.Kind = channels.Transient
	}
	return e
}
