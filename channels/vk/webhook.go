package vk

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// Envelope is the part of a callback read before authenticity is known.
type Envelope struct {
	Type    string          `json:"type"`
	GroupID int64           `json:"group_id"`
	EventID string          `json:"event_id"`
	Secret  *string         `json:"secret"`
	Object  json.RawMessage `json:"object"`
}

// Verify decodes the envelope of body and checks group id and secret:
// 401 when the secret is missing, 403 when it or the group is wrong (or no
// secret is configured), 400 when the envelope is unreadable.
func Verify(cfg Config, body []byte) (Envelope, int) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Type == "" {
		return env, http.StatusBadRequest
	}
	if env.Secret == nil || *env.Secret == "" {
		return env, http.StatusUnauthorized
	}
	if cfg.Secret == "" || subtle.ConstantTimeCompare([]byte(*env.Secret), []byte(cfg.Secret)) != 1 {
		return env, http.StatusForbidden
	}
	if cfg.GroupID != 0 && env.GroupID != cfg.GroupID {
		return env, http.StatusForbidden
	}
	return env, 0
}

type inMessage struct {
	ID          int64          `json:"id"`
	Date        int64          `json:"date"`
	PeerID      int64          `json:"peer_id"`
	FromID      int64          `json:"from_id"`
	Text        string         `json:"text"`
	Payload     string         `json:"payload"`
	Ref         string         `json:"ref"`
	RefSource   string         `json:"ref_source"`
	Attachments []inAttachment `json:"attachments"`
}

// inAttachment is one entry of a message's attachments. Only photos,
// documents and voice messages carry a file URL; videos, stickers, links
// and the like are skipped.
type inAttachment struct {
	Type  string `json:"type"`
	Photo *struct {
		Sizes []photoSize `json:"sizes"`
	} `json:"photo"`
	Doc *struct {
		Title string `json:"title"`
		Size  int64  `json:"size"`
		URL   string `json:"url"`
	} `json:"doc"`
	AudioMessage *struct {
		LinkOGG string `json:"link_ogg"`
		LinkMP3 string `json:"link_mp3"`
	} `json:"audio_message"`
}

type photoSize struct {
	Type   string `json:"type"`
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// files lists the downloadable attachments of m: a photo's largest size,
// a document's URL, a voice message's OGG (else MP3) link.
func (m *inMessage) files() []channels.Attachment {
	var out []channels.Attachment
	for _, a := range m.Attachments {
		switch {
		case a.Type == "photo" && a.Photo != nil:
			var best photoSize
			for _, sz := range a.Photo.Sizes {
				if sz.URL != "" && (best.URL == "" || sz.Width*sz.Height >= best.Width*best.Height) {
					best = sz
				}
			}
			if best.URL != "" {
				out = append(out, channels.Attachment{Kind: channels.Photo, URL: best.URL})
			}
		case a.Type == "doc" && a.Doc != nil && a.Doc.URL != "":
			out = append(out, channels.Attachment{Kind: channels.Document, URL: a.Doc.URL, Name: a.Doc.Title, Size: a.Doc.Size})
		case a.Type == "audio_message" && a.AudioMessage != nil:
			if a.AudioMessage.LinkOGG != "" {
				out = append(out, channels.Attachment{Kind: channels.Voice, URL: a.AudioMessage.LinkOGG, MIME: "audio/ogg"})
			} else if a.AudioMessage.LinkMP3 != "" {
				out = append(out, channels.Attachment{Kind: channels.Voice, URL: a.AudioMessage.LinkMP3, MIME: "audio/mpeg"})
			}
		}
	}
	return out
}

type messageNew struct {
	Message    *inMessage `json:"message"`
	ClientInfo struct {
		LangID int `json:"lang_id"`
	} `json:"client_info"`
}

type messageEvent struct {
	UserID                int64           `json:"user_id"`
	PeerID                int64           `json:"peer_id"`
	EventID               string          `json:"event_id"`
	Payload               json.RawMessage `json:"payload"`
	ConversationMessageID int64           `json:"conversation_message_id"`
}

type messageAllowDeny struct {
	UserID int64  `json:"user_id"`
	Key    string `json:"key"`
}

type messageRead struct {
	FromID        int64 `json:"from_id"`
	PeerID        int64 `json:"peer_id"`
	ReadMessageID int64 `json:"read_message_id"`
}

// langs maps VK lang_id to a locale.
var langs = map[int]string{0: "ru", 1: "uk", 2: "be", 3: "en", 4: "es", 6: "de", 7: "it", 12: "fr", 97: "kk"}

// EventAnswer is a callback button press to acknowledge with
// messages.sendMessageEventAnswer.
type EventAnswer struct {
	EventID        string
	UserID, PeerID int64
}

// buttonID reads Nudge's {"button":"id"} payload.
func buttonID(payload []byte) (string, bool) {
	var p ButtonPayload
	if json.Unmarshal(payload, &p) != nil || p.Button == "" {
		return "", false
	}
	return p.Button, true
}

// ParseCallback turns a verified envelope into events (none for types Nudge
// does not use) and, for message_event, the press to answer.
func ParseCallback(account string, env Envelope, body []byte) ([]channels.Event, *EventAnswer, error) {
	ev := channels.Event{Channel: channels.VK, Account: account, ProviderEventID: env.EventID, Raw: body}
	if ev.ProviderEventID == "" { // API versions before 5.103 send no event_id; redeliveries are byte-identical
		sum := sha256.Sum256(body)
		ev.ProviderEventID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	peer := func(ids ...int64) string {
		for _, id := range ids {
			if id != 0 {
				return strconv.FormatInt(id, 10)
			}
		}
		return ""
	}
	var answer *EventAnswer
	switch env.Type {
	case "message_new":
		var o messageNew
		if err := json.Unmarshal(env.Object, &o); err != nil || o.Message == nil {
			return nil, nil, fmt.Errorf("vk message_new: bad object")
		}
		m := o.Message
		ev.From, ev.Locale = peer(m.PeerID, m.FromID), langs[o.ClientInfo.LangID]
		if m.Date > 0 {
			ev.ProviderAt = time.Unix(m.Date, 0).UTC()
		}
		var cmd struct {
			Command string `json:"command"`
		}
		switch id, isButton := buttonID([]byte(m.Payload)); {
		case m.Ref != "":
			ev.Type, ev.Code = channels.EventStart, m.Ref
		case isButton:
			ev.Type, ev.Payload = channels.EventButton, id
		case json.Unmarshal([]byte(m.Payload), &cmd) == nil && cmd.Command == "start":
			ev.Type = channels.EventStart // the "Start" button of a new dialog
		default:
			ev.Type, ev.Text, ev.Attachments = channels.EventText, m.Text, m.files()
		}
	case "message_event":
		var o messageEvent
		if err := json.Unmarshal(env.Object, &o); err != nil {
			return nil, nil, fmt.Errorf("vk message_event: bad object")
		}
		ev.Type, ev.From = channels.EventButton, peer(o.PeerID, o.UserID)
		if id, ok := buttonID(o.Payload); ok {
			ev.Payload = id
		} else {
			ev.Payload = string(o.Payload)
		}
		if o.EventID != "" {
			answer = &EventAnswer{EventID: o.EventID, UserID: o.UserID, PeerID: o.PeerID}
		}
	case "message_allow", "message_deny":
		var o messageAllowDeny
		if err := json.Unmarshal(env.Object, &o); err != nil {
			return nil, nil, fmt.Errorf("vk %s: bad object", env.Type)
		}
		ev.From = peer(o.UserID)
		if env.Type == "message_allow" {
			ev.Type, ev.Code = channels.EventStart, o.Key
		} else {
			ev.Type = channels.EventOptOut
		}
	case "message_read":
		var o messageRead
		if err := json.Unmarshal(env.Object, &o); err != nil || o.ReadMessageID == 0 {
			return nil, nil, fmt.Errorf("vk message_read: bad object")
		}
		ev.Type, ev.From, ev.ProviderMessageID = channels.EventRead, peer(o.PeerID, o.FromID), strconv.FormatInt(o.ReadMessageID, 10)
	default:
		return nil, nil, nil
	}
	if ev.From == "" {
		return nil, nil, fmt.Errorf("vk %s: no user", env.Type)
	}
	return []channels.Event{ev}, answer, nil
}

// Webhook is the Callback API handler for one community.
type Webhook struct {
	cfg    Config
	sink   channels.Sink
	log    *slog.Logger
	client *Client
}

// NewWebhook returns the handler for /webhooks/vk/<account>.
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return NewWebhookWithClient(cfg, sink, log, New(cfg, &http.Client{Timeout: 10 * time.Second}))
}

// NewWebhookWithClient is NewWebhook with the client that answers callback
// button presses.
func NewWebhookWithClient(cfg Config, sink channels.Sink, log *slog.Logger, c *Client) http.Handler {
	return &Webhook{cfg: cfg, sink: sink, log: channels.WebhookLog(log, channels.VK, cfg.Account), client: c}
}

func plain(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, s)
}

var errNoConfirmation = errors.New("no confirmation string configured")

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := channels.ReadPost(w, r, MaxWebhookBody)
	if !ok {
		return
	}
	env, st := Verify(h.cfg, body)
	if st != 0 {
		channels.Refuse(w, r, h.log, "vk callback rejected", st)
		return
	}
	if env.Type == "confirmation" {
		if h.cfg.Confirmation == "" {
			h.log.ErrorContext(r.Context(), "vk confirmation", "err", errNoConfirmation)
			http.Error(w, errNoConfirmation.Error(), http.StatusInternalServerError)
			return
		}
		plain(w, h.cfg.Confirmation)
		return
	}
	events, answer, err := ParseCallback(h.cfg.Account, env, body)
	if err != nil {
		channels.Unreadable(w, r, h.log, "vk callback unreadable", "bad callback", err, "type", env.Type)
		return
	}
	if _, ok := channels.Store(w, r, h.sink, h.log, events, "vk events not stored", "type", env.Type); !ok {
		return
	}
	if answer != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		if err := h.client.AnswerEvent(ctx, answer.EventID, answer.UserID, answer.PeerID); err != nil {
			h.log.WarnContext(ctx, "sendMessageEventAnswer failed", "err", err)
		}
		cancel()
	}
	plain(w, "ok")
}
