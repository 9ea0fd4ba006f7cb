package messenger

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// NewWebhook returns the handler mounted at /webhooks/messenger/<account> (see
// meta.Webhook: handshake, signature before parsing, 200 after storing).
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return &meta.Webhook{Name: "messenger", Account: cfg.Account, AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken,
		Parse: func(body []byte) ([]channels.Event, error) { return Parse(body, cfg.Account) }, Sink: sink, Log: log}
}

type envelope struct {
	Object string `json:"object"`
	Entry  []struct {
		ID        string            `json:"id"`
		Messaging []json.RawMessage `json:"messaging"`
	} `json:"entry"`
}

type referral struct {
	Ref    string `json:"ref"`
	Source string `json:"source"`
	Type   string `json:"type"`
}

// attachment is a file in a message: the payload URL is a signed CDN link
// that needs no token (Client.Fetch).
type attachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL       string `json:"url"`
		StickerID int64  `json:"sticker_id"`
	} `json:"payload"`
}

// attachmentKinds maps the Send API's attachment types to files; fallback
// (shared links), location and template attachments carry no file.
var attachmentKinds = map[string]channels.AttachmentKind{
	"image": channels.Photo, "video": channels.Video, "audio": channels.Audio, "file": channels.Document,
}

// files lists the downloadable attachments of a message. Messenger states
// no name or size; a file's name is the last segment of its CDN path.
func files(in []attachment) []channels.Attachment {
	var out []channels.Attachment
	for _, a := range in {
		k, ok := attachmentKinds[a.Type]
		if !ok || a.Payload.URL == "" {
			continue
		}
		x := channels.Attachment{Kind: k, URL: a.Payload.URL}
		if a.Payload.StickerID != 0 {
			x.Kind = channels.Sticker
		}
		if k == channels.Document {
			x.Name = urlFileName(a.Payload.URL)
		}
		out = append(out, x)
	}
	return out
}

// urlFileName is the unescaped last path segment of u, or "".
func urlFileName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	name := path.Base(p.Path)
	if name == "." || name == "/" {
		return ""
	}
	return name
}

type messaging struct {
	Sender struct {
		ID string `json:"id"`
	} `json:"sender"`
	Timestamp int64 `json:"timestamp"`
	Message   *struct {
		MID        string `json:"mid"`
		Text       string `json:"text"`
		IsEcho     bool   `json:"is_echo"`
		QuickReply *struct {
			Payload string `json:"payload"`
		} `json:"quick_reply"`
		Attachments []attachment `json:"attachments"`
	} `json:"message"`
	Postback *struct {
		MID      string    `json:"mid"`
		Title    string    `json:"title"`
		Payload  string    `json:"payload"`
		Referral *referral `json:"referral"`
	} `json:"postback"`
	Referral *referral `json:"referral"`
	Delivery *struct {
		MIDs      []string `json:"mids"`
		Watermark int64    `json:"watermark"`
	} `json:"delivery"`
	Read *struct {
		Watermark int64 `json:"watermark"`
	} `json:"read"`
}

// ErrNotPage is returned for a signed body of another object type.
var ErrNotPage = errors.New("not a page webhook")

// Parse turns a webhook body into events: message text and files (images,
// video, audio, files and stickers as Attachments) → EventText, a
// quick-reply tap → EventButton, a postback → EventButton (preceded by
// EventStart when it carries referral.ref, the m.me ?ref= of a new thread), a
// messaging_referrals event → EventStart, message_deliveries →
// EventDelivered (one per listed mid, all with the watermark), message_reads →
// EventRead with the watermark. Echoes of the page's own messages are skipped.
func Parse(body []byte, account string) ([]channels.Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("messenger webhook: %w", err)
	}
	if env.Object != "page" {
		return nil, ErrNotPage
	}
	var out []channels.Event
	for _, e := range env.Entry {
		for _, raw := range e.Messaging {
			var m messaging
			if json.Unmarshal(raw, &m) != nil || m.Sender.ID == "" {
				continue
			}
			ev := func(t channels.EventType, id string) channels.Event {
				return channels.Event{Type: t, Channel: channels.Messenger, Account: account, ProviderEventID: id,
					From: m.Sender.ID, ProviderAt: millis(m.Timestamp), Raw: raw}
			}
			switch {
			case m.Message != nil:
				if m.Message.IsEcho {
					continue
				}
				mid := m.Message.MID
				if mid == "" {
					mid = "message:" + m.Sender.ID + ":" + strconv.FormatInt(m.Timestamp, 10)
				}
				if m.Message.QuickReply != nil {
					x := ev(channels.EventButton, mid)
					x.Payload, x.Text = m.Message.QuickReply.Payload, m.Message.Text
					out = append(out, x)
				} else if att := files(m.Message.Attachments); m.Message.Text != "" || len(att) > 0 {
					x := ev(channels.EventText, mid)
					x.Text, x.Attachments = m.Message.Text, att
					out = append(out, x)
				}
			case m.Postback != nil:
				id := m.Postback.MID
				if id == "" {
					id = "postback:" + m.Sender.ID + ":" + strconv.FormatInt(m.Timestamp, 10)
				}
				if r := m.Postback.Referral; r != nil && r.Ref != "" {
					x := ev(channels.EventStart, id+":ref")
					x.Code = r.Ref
					out = append(out, x)
				}
				x := ev(channels.EventButton, id)
				x.Payload, x.Text = m.Postback.Payload, m.Postback.Title
				out = append(out, x)
			case m.Referral != nil:
				x := ev(channels.EventStart, "referral:"+m.Sender.ID+":"+strconv.FormatInt(m.Timestamp, 10))
				x.Code = m.Referral.Ref
				out = append(out, x)
			case m.Delivery != nil:
				wm := millis(m.Delivery.Watermark)
				base := "delivery:" + m.Sender.ID + ":" + strconv.FormatInt(m.Delivery.Watermark, 10)
				if len(m.Delivery.MIDs) == 0 {
					x := ev(channels.EventDelivered, base)
					x.Watermark = wm
					out = append(out, x)
				}
				for _, mid := range m.Delivery.MIDs {
					x := ev(channels.EventDelivered, base+":"+mid)
					x.Watermark, x.ProviderMessageID = wm, mid
					out = append(out, x)
				}
			case m.Read != nil:
				x := ev(channels.EventRead, "read:"+m.Sender.ID+":"+strconv.FormatInt(m.Read.Watermark, 10))
				x.Watermark = millis(m.Read.Watermark)
				out = append(out, x)
			}
		}
	}
	return out, nil
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
