package viber

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Limits of the REST Bot API.
const (
	MaxText         = 7000 // text message, characters
	MaxCaption      = 512  // picture description, characters
	MaxTrackingData = 4096
	MaxSenderName   = 28
	MaxButtons      = 24
	MaxRequestBytes = 30 << 10 // send_message JSON
)

// Status codes of the REST Bot API.
const (
	StatusOK                       = 0
	StatusInvalidURL               = 1
	StatusInvalidAuthToken         = 2
	StatusBadData                  = 3
	StatusMissingData              = 4
	StatusReceiverNotRegistered    = 5
	StatusReceiverNotSubscribed    = 6
	StatusPublicAccountBlocked     = 7
	StatusPublicAccountNotFound    = 8
	StatusPublicAccountSuspended   = 9
	StatusWebhookNotSet            = 10
	StatusReceiverNoSuitableDevice = 11
	StatusTooManyRequests          = 12
	StatusAPIVersionNotSupported   = 13
	StatusIncompatibleWithVersion  = 14
)

// Client talks to the REST Bot API for one bot. Safe for concurrent use.
type Client struct {
	cfg Config
	api channels.API
}

// New returns a client; hc nil means a client with a 30s timeout.
func New(cfg Config, hc *http.Client) *Client {
	if cfg.SenderName == "" {
		cfg.SenderName = "Nudge"
	}
	if cfg.RateLimitBackoff <= 0 {
		cfg.RateLimitBackoff = 10 * time.Minute
	}
	return &Client{cfg: cfg, api: channels.NewAPI(cfg.APIURL, DefaultAPIURL, hc)}
}

// Kind is channels.Viber.
func (c *Client) Kind() channels.Kind { return channels.Viber }

// Sender is the displayed sender of a message.
type Sender struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar,omitempty"`
}

// KeyboardButton is one button of a Viber keyboard.
type KeyboardButton struct {
	ActionType string `json:"ActionType"`
	ActionBody string `json:"ActionBody"`
	Text       string `json:"Text"`
	Columns    int    `json:"Columns,omitempty"`
	Rows       int    `json:"Rows,omitempty"`
}

// Keyboard is a Viber keyboard.
type Keyboard struct {
	Type          string           `json:"Type"`
	DefaultHeight bool             `json:"DefaultHeight"`
	Buttons       []KeyboardButton `json:"Buttons"`
}

// OutMessage is the send_message body (and, without Receiver, the welcome
// message answered to conversation_started).
type OutMessage struct {
	Receiver      string `json:"receiver,omitempty"`
	MinAPIVersion int    `json:"min_api_version"`
	Sender        Sender `json:"sender"`
	TrackingData  string `json:"tracking_data,omitempty"`
	Type          string `json:"type"`
	Text          string `json:"text,omitempty"`
	Media         string `json:"media,omitempty"`
	// Size (bytes) and FileName make a file message (rich.go).
	Size     int64     `json:"size,omitempty"`
	FileName string    `json:"file_name,omitempty"`
	Keyboard *Keyboard `json:"keyboard,omitempty"`
	// AltText and RichMedia make a rich_media (carousel) message (rich.go).
	AltText   string     `json:"alt_text,omitempty"`
	RichMedia *RichMedia `json:"rich_media,omitempty"`
}

// Tracking is the tracking_data envelope Nudge sends and reads back.
type Tracking struct {
	Nudge       int      `json:"nudge"`
	Correlation string   `json:"c,omitempty"`
	Buttons     []string `json:"b,omitempty"`
}

// ParseTracking reads a tracking_data envelope; ok is false for foreign data.
func ParseTracking(s string) (Tracking, bool) {
	var t Tracking
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &t) != nil || t.Nudge != 1 {
		return Tracking{}, false
	}
	return t, true
}

func invalid(format string, args ...any) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Code: "local", Message: fmt.Sprintf(format, args...)}
}

// Build turns m into a send_message body.
func (c *Client) Build(m channels.Message) (OutMessage, error) {
	out := OutMessage{Receiver: m.To, MinAPIVersion: 1, Sender: Sender{Name: c.cfg.SenderName, Avatar: c.cfg.SenderAvatar}, Type: "text", Text: m.Text}
	if m.To == "" {
		return out, invalid("no receiver")
	}
	n := utf8.RuneCountInString(m.Text)
	if m.ImageURL != "" {
		out.Type, out.Media = "picture", m.ImageURL
		if n > MaxCaption {
			return out, invalid("picture text is %d characters, Viber allows %d", n, MaxCaption)
		}
	} else if n == 0 || n > MaxText {
		return out, invalid("text is %d characters, Viber allows 1-%d", n, MaxText)
	}
	tr := Tracking{Nudge: 1, Correlation: m.Correlation}
	if len(m.Buttons) > 0 {
		if len(m.Buttons) > MaxButtons {
			return out, invalid("%d buttons, Viber allows %d", len(m.Buttons), MaxButtons)
		}
		kb := &Keyboard{Type: "keyboard", DefaultHeight: true}
		for i, b := range m.Buttons {
			kbb := KeyboardButton{Text: b.Text, Columns: 6, Rows: 1}
			switch {
			case b.Text == "":
				return out, invalid("button %d: empty text", i)
			case b.URL != "":
				kbb.ActionType, kbb.ActionBody = "open-url", b.URL
			case b.ID != "":
				kbb.ActionType, kbb.ActionBody = "reply", b.ID
				tr.Buttons = append(tr.Buttons, b.ID)
			default:
				return out, invalid("button %d: needs an id or a url", i)
			}
			kb.Buttons = append(kb.Buttons, kbb)
		}
		out.Keyboard = kb
	}
	td, _ := json.Marshal(tr)
	if len(td) > MaxTrackingData {
		return out, invalid("tracking_data is %d bytes, Viber allows %d", len(td), MaxTrackingData)
	}
	out.TrackingData = string(td)
	return out, nil
}

// Send sends m with send_message (type text, or picture with m.Text as its
// description when m.ImageURL is set; an album as rich_media and a document
// as a file, rich.go).
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	if len(m.Images) > 0 || m.Document != nil {
		return c.sendRich(ctx, m)
	}
	out, err := c.Build(m)
	if err != nil {
		return channels.Result{}, err
	}
	var resp struct {
		MessageToken json.Number `json:"message_token"`
	}
	if err := c.Call(ctx, "send_message", out, &resp); err != nil {
		return channels.Result{}, err
	}
	return channels.Result{ProviderID: resp.MessageToken.String(), SentAt: c.api.Now()}, nil
}

// EventTypes are the callbacks Nudge subscribes to with set_webhook.
var EventTypes = []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}

// SetWebhook registers url; Viber probes it at once with a signed
// {"event":"webhook"} callback, so the server must already be running.
func (c *Client) SetWebhook(ctx context.Context, url string) error {
	return c.Call(ctx, "set_webhook", map[string]any{"url": url, "event_types": EventTypes, "send_name": true, "send_photo": false}, nil)
}

type statusResponse struct {
	Status        *int   `json:"status"`
	StatusMessage string `json:"status_message"`
}

// Call posts body as JSON to endpoint and decodes the answer into out (may be
// nil). Failures are *channels.Error.
func (c *Client) Call(ctx context.Context, endpoint string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("viber %s: encode: %w", endpoint, err)
	}
	if len(b) > MaxRequestBytes {
		return invalid("request is %d bytes, Viber allows %d", len(b), MaxRequestBytes)
	}
	resp, raw, err := c.api.Post(ctx, "/"+endpoint, "application/json", b, map[string]string{"X-Viber-Auth-Token": c.cfg.Token}, endpoint, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return channels.HTTPStatusError(endpoint, resp.StatusCode)
	}
	var st statusResponse
	if err := json.Unmarshal(raw, &st); err != nil || st.Status == nil {
		return &channels.Error{Kind: channels.Transient, Code: "http_200", Message: endpoint + ": unreadable answer"}
	}
	if *st.Status != StatusOK {
		return c.Classify(*st.Status, st.StatusMessage)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &channels.Error{Kind: channels.Transient, Code: "http_200", Message: endpoint + ": unreadable answer"}
		}
	}
	return nil
}

// Classify maps a non-zero status to a channels.Error (see the package doc).
func (c *Client) Classify(status int, message string) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(status), Message: message, Kind: channels.Invalid}
	switch status {
	case StatusReceiverNotRegistered, StatusReceiverNotSubscribed, StatusReceiverNoSuitableDevice:
		e.Kind = channels.NotReachable
	case StatusTooManyRequests:
		e.Kind, e.RetryAfter = channels.RateLimited, c.cfg.RateLimitBackoff
	}
	return e
}
