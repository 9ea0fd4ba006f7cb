package telegram

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

// Limits of the Bot API that the client checks before sending.
const (
	MaxText         = 4096 // sendMessage text, characters
	MaxCaption      = 1024 // sendPhoto caption, characters
	MaxCallbackData = 64   // callback_data, bytes
)

// Client talks to the Bot API for one bot. It is safe for concurrent use.
type Client struct {
	cfg Config
	api channels.API
}

// New returns a client; hc nil means a client with a 30s timeout.
func New(cfg Config, hc *http.Client) *Client {
	return &Client{cfg: cfg, api: channels.NewAPI(cfg.APIURL, DefaultAPIURL, hc)}
}

// Kind is channels.Telegram.
func (c *Client) Kind() channels.Kind { return channels.Telegram }

// InlineButton is one button of an inline keyboard.
type InlineButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
	Pay          bool   `json:"pay,omitempty"` // the Pay button of an invoice (first)
}

// InlineKeyboard is reply_markup of type InlineKeyboardMarkup.
type InlineKeyboard struct {
	InlineKeyboard [][]InlineButton `json:"inline_keyboard"`
}

// Keyboard lays buttons out one per row (long Russian labels stay readable on
// phones): reply buttons carry their ID as callback_data, links their URL.
func Keyboard(bs []channels.Button) (*InlineKeyboard, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	kb := &InlineKeyboard{}
	for i, b := range bs {
		if b.Text == "" {
			return nil, fmt.Errorf("button %d: empty text", i)
		}
		ib := InlineButton{Text: b.Text}
		switch {
		case b.URL != "":
			ib.URL = b.URL
		case b.ID != "":
			if len(b.ID) > MaxCallbackData {
				return nil, fmt.Errorf("button %d: id is %d bytes, callback_data allows %d", i, len(b.ID), MaxCallbackData)
			}
			ib.CallbackData = b.ID
		default:
			return nil, fmt.Errorf("button %d: needs an id or a url", i)
		}
		kb.InlineKeyboard = append(kb.InlineKeyboard, []InlineButton{ib})
	}
	return kb, nil
}

// chatID sends numeric chats as JSON numbers and @usernames as strings.
func chatID(to string) any {
	if n, err := strconv.ParseInt(to, 10, 64); err == nil {
		return n
	}
	return to
}

// Send sends m as sendMessage, or sendPhoto with m.Text as caption when
// m.ImageURL is set; albums and documents are in album.go.
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	if m.To == "" {
		return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "local", Message: "no chat id"}
	}
	if inv, i := invoiceOf(m.Buttons); inv != nil {
		if !c.linkInstead(inv, m.Buttons[i]) {
			return c.sendInvoice(ctx, m, inv, i)
		}
		m.Buttons = withoutInvoices(m.Buttons)
	}
	if len(m.Images) > 0 || m.Document != nil {
		return c.sendRich(ctx, m)
	}
	kb, err := Keyboard(m.Buttons)
	if err != nil {
		return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "local", Message: err.Error()}
	}
	req := map[string]any{"chat_id": chatID(m.To)}
	if kb != nil {
		req["reply_markup"] = kb
	}
	if m.Format == channels.HTML {
		req["parse_mode"] = "HTML"
	}
	method := "sendMessage"
	if m.ImageURL != "" {
		method = "sendPhoto"
		req["photo"] = m.ImageURL
		if m.Text != "" {
			if n := utf8.RuneCountInString(m.Text); n > MaxCaption {
				return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "local", Message: fmt.Sprintf("caption is %d characters, Telegram allows %d", n, MaxCaption)}
			}
			req["caption"] = m.Text
		}
	} else {
		if n := utf8.RuneCountInString(m.Text); n == 0 || n > MaxText {
			return channels.Result{}, &channels.Error{Kind: channels.Invalid, Code: "local", Message: fmt.Sprintf("text is %d characters, Telegram allows 1-%d", n, MaxText)}
		}
		req["text"] = m.Text
	}
	return c.send(ctx, method, req)
}

// send calls a method that sends a message and returns its Result.
func (c *Client) send(ctx context.Context, method string, req map[string]any) (channels.Result, error) {
	var msg struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	}
	if err := c.Call(ctx, method, req, &msg); err != nil {
		return channels.Result{}, err
	}
	return channels.Result{
		ProviderID: strconv.FormatInt(msg.Chat.ID, 10) + ":" + strconv.FormatInt(msg.MessageID, 10),
		SentAt:     c.api.Now(),
	}, nil
}

// AnswerCallbackQuery stops the button's loading spinner; text (0-200
// characters) is shown as a toast when not empty.
func (c *Client) AnswerCallbackQuery(ctx context.Context, id, text string) error {
	req := map[string]any{"callback_query_id": id}
	if text != "" {
		req["text"] = text
	}
	return c.Call(ctx, "answerCallbackQuery", req, nil)
}

// WebhookOptions are the setWebhook parameters Nudge uses.
type WebhookOptions struct {
	URL                string
	SecretToken        string
	AllowedUpdates     []string
	MaxConnections     int
	DropPendingUpdates bool
}

// AllowedUpdates are the update types the webhook handler understands.
var AllowedUpdates = []string{"message", "callback_query", "my_chat_member", "pre_checkout_query"}

// SetWebhook registers the webhook URL with its secret token.
func (c *Client) SetWebhook(ctx context.Context, o WebhookOptions) error {
	req := map[string]any{"url": o.URL, "secret_token": o.SecretToken, "allowed_updates": o.AllowedUpdates}
	if o.MaxConnections > 0 {
		req["max_connections"] = o.MaxConnections
	}
	if o.DropPendingUpdates {
		req["drop_pending_updates"] = true
	}
	return c.Call(ctx, "setWebhook", req, nil)
}

// WebhookInfo is part of getWebhookInfo's answer.
type WebhookInfo struct {
	URL                  string   `json:"url"`
	PendingUpdateCount   int      `json:"pending_update_count"`
	LastErrorMessage     string   `json:"last_error_message,omitempty"`
	AllowedUpdates       []string `json:"allowed_updates,omitempty"`
	HasCustomCertificate bool     `json:"has_custom_certificate"`
}

// GetWebhookInfo reports the registered webhook.
func (c *Client) GetWebhookInfo(ctx context.Context) (WebhookInfo, error) {
	var wi WebhookInfo
	err := c.Call(ctx, "getWebhookInfo", map[string]any{}, &wi)
	return wi, err
}

// apiResponse is every Bot API answer.
type apiResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// Call posts params as JSON to method and decodes result into out (may be
// nil). Failures are *channels.Error.
func (c *Client) Call(ctx context.Context, method string, params any, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("telegram %s: encode: %w", method, err)
	}
	// The token is part of the URL: Exchange keeps it out of the error.
	resp, raw, err := c.api.Post(ctx, "/bot"+c.cfg.Token+"/"+method, "application/json", body, nil, method, 4<<20)
	if err != nil {
		return err
	}
	var ar apiResponse
	if err := json.Unmarshal(raw, &ar); err != nil || (!ar.OK && ar.ErrorCode == 0) {
		kind := channels.Invalid
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			kind = channels.Transient
		}
		if resp.StatusCode == http.StatusOK {
			kind = channels.Transient
		}
		return &channels.Error{Kind: kind, Code: strconv.Itoa(resp.StatusCode), Message: method + ": unreadable answer"}
	}
	if !ar.OK {
		return Classify(ar.ErrorCode, ar.Description, retryAfter(ar), migrated(ar))
	}
	if out != nil {
		if err := json.Unmarshal(ar.Result, out); err != nil {
			return &channels.Error{Kind: channels.Transient, Code: "200", Message: method + ": unreadable result"}
		}
	}
	return nil
}

func retryAfter(ar apiResponse) int {
	if ar.Parameters == nil {
		return 0
	}
	return ar.Parameters.RetryAfter
}

func migrated(ar apiResponse) bool {
	return ar.Parameters != nil && ar.Parameters.MigrateToChatID != 0
}

// Classify maps a Bot API error to a channels.Error (see the package doc).
func Classify(code int, description string, retryAfterSec int, migrated bool) *channels.Error {
	e := &channels.Error{Code: strconv.Itoa(code), Message: description}
	d := strings.ToLower(description)
	switch {
	case code == http.StatusTooManyRequests:
		e.Kind = channels.RateLimited
		if retryAfterSec <= 0 {
			retryAfterSec = 1
		}
		e.RetryAfter = time.Duration(retryAfterSec) * time.Second
	case code == http.StatusForbidden:
		switch {
		case strings.Contains(d, "blocked by the user"), strings.Contains(d, "bot was kicked"):
			e.Kind = channels.Blocked
		default: // user is deactivated, can't initiate conversation, not a member
			e.Kind = channels.NotReachable
		}
	case code == http.StatusBadRequest:
		switch {
		case strings.Contains(d, "user_is_blocked"):
			e.Kind = channels.Blocked
		case strings.Contains(d, "chat not found"), strings.Contains(d, "peer_id_invalid"), strings.Contains(d, "user not found"), migrated:
			e.Kind = channels.NotReachable
		default:
			e.Kind = channels.Invalid
		}
	case code >= 500:
		e.Kind = channels.Transient
	default:
		e.Kind = channels.Invalid
	}
	return e
}

// FileInfo is the Bot API's File object.
type FileInfo struct {
	FileID   string `json:"file_id"`
	FileSize int64  `json:"file_size"`
	FilePath string `json:"file_path"`
}

// MaxDownload is the largest file the Bot API lets a bot download.
const MaxDownload = 20 << 20

// Fetch downloads an attachment a user sent: getFile for its path, then
// GET <api>/file/bot<token>/<path>. A file over max (by the size Telegram
// reports, or by the bytes that arrive) is a *channels.TooLargeError.
func (c *Client) Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error) {
	if err := a.CheckFetch("telegram getFile", "file_id", a.ProviderFileID, max); err != nil {
		return channels.File{}, err
	}
	var fi FileInfo
	if err := c.Call(ctx, "getFile", map[string]string{"file_id": a.ProviderFileID}, &fi); err != nil {
		return channels.File{}, err
	}
	if fi.FileSize > max {
		return channels.File{}, &channels.TooLargeError{Size: fi.FileSize, Max: max}
	}
	if fi.FilePath == "" {
		return channels.File{}, &channels.Error{Kind: channels.Invalid, Code: "no_file_path", Message: "getFile: no file_path (file too big for the Bot API?)"}
	}
	f, err := channels.Download(ctx, c.api.HC, c.api.BaseURL+"/file/bot"+c.cfg.Token+"/"+fi.FilePath, nil, max, "telegram file download")
	if err != nil {
		return f, err
	}
	return f.Described(a), nil
}
