package viber

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// SignatureHeader carries the hex HMAC-SHA256 of the raw body.
const SignatureHeader = "X-Viber-Content-Signature"

// User is the sender/user object of callbacks.
type User struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Avatar     string `json:"avatar"`
	Country    string `json:"country"`
	Language   string `json:"language"`
	APIVersion int    `json:"api_version"`
}

// InMessage is the message object of a "message" callback.
type InMessage struct {
	Type         string `json:"type"`
	Text         string `json:"text"`
	Media        string `json:"media"`
	TrackingData string `json:"tracking_data"`
	FileName     string `json:"file_name"`
	FileSize     int64  `json:"file_size"`
	Size         int64  `json:"size"` // what send_message calls file_size
}

// mediaKinds are the message types whose media URL is a file the user sent
// (a text message may carry a media link too, which is no file).
var mediaKinds = map[string]channels.AttachmentKind{
	"picture": channels.Photo, "video": channels.Video, "file": channels.Document, "sticker": channels.Sticker,
}

// attachments lists the file of m: Viber names it by a public download URL.
func (m *InMessage) attachments() []channels.Attachment {
	k, ok := mediaKinds[m.Type]
	if !ok || m.Media == "" {
		return nil
	}
	size := m.FileSize
	if size == 0 {
		size = m.Size
	}
	return []channels.Attachment{{Kind: k, URL: m.Media, Name: m.FileName, Size: size}}
}

// Callback is one webhook body.
type Callback struct {
	Event        string      `json:"event"`
	Timestamp    int64       `json:"timestamp"`
	MessageToken json.Number `json:"message_token"`
	UserID       string      `json:"user_id"`
	Desc         string      `json:"desc"`
	Sender       *User       `json:"sender"`
	User         *User       `json:"user"`
	Message      *InMessage  `json:"message"`
	Context      string      `json:"context"`
	Type         string      `json:"type"`
	Subscribed   bool        `json:"subscribed"`
}

// Sign returns the signature Viber puts in SignatureHeader.
func Sign(token string, body []byte) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks the signature of body (header, or the ?sig= query parameter
// the official node library also accepts): 401 when missing, 403 when wrong
// or when no token is configured, 0 when good.
func Verify(token string, r *http.Request, body []byte) int {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		sig = r.URL.Query().Get("sig")
	}
	if sig == "" {
		return http.StatusUnauthorized
	}
	got, err := hex.DecodeString(sig)
	if err != nil || token == "" {
		return http.StatusForbidden
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return http.StatusForbidden
	}
	return 0
}

// ParseCallback turns one verified webhook body into events (none for the
// webhook probe and callbacks Nudge does not use) and returns the callback's
// event name.
func ParseCallback(account string, body []byte) ([]channels.Event, string, error) {
	var cb Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return nil, "", fmt.Errorf("viber callback: %w", err)
	}
	if cb.Event == "" {
		return nil, "", errors.New("viber callback: no event")
	}
	ev := channels.Event{Channel: channels.Viber, Account: account, Raw: body}
	if cb.Timestamp > 0 {
		ev.ProviderAt = time.UnixMilli(cb.Timestamp).UTC()
	}
	token := cb.MessageToken.String()
	if token != "" {
		ev.ProviderEventID = cb.Event + ":" + token
	}
	who := func(u *User) {
		if u != nil {
			ev.From, ev.Name, ev.Locale = u.ID, u.Name, u.Language
		}
	}
	switch cb.Event {
	case "message":
		if cb.Message == nil || cb.Sender == nil {
			return nil, cb.Event, errors.New("viber message: no message or sender")
		}
		who(cb.Sender)
		ev.Type, ev.Text, ev.Attachments = channels.EventText, cb.Message.Text, cb.Message.attachments()
		if tr, ok := ParseTracking(cb.Message.TrackingData); ok {
			ev.Correlation = tr.Correlation
			if cb.Message.Type == "text" {
				for _, id := range tr.Buttons {
					if id == cb.Message.Text {
						ev.Type, ev.Payload, ev.Text = channels.EventButton, id, ""
						break
					}
				}
			}
		} else {
			ev.Correlation = cb.Message.TrackingData
		}
	case "conversation_started":
		who(cb.User)
		ev.Type, ev.Code = channels.EventStart, cb.Context
	case "subscribed":
		who(cb.User)
		ev.Type = channels.EventStart
	case "unsubscribed":
		ev.Type, ev.From = channels.EventOptOut, cb.UserID
	case "delivered", "seen", "failed":
		ev.From, ev.ProviderMessageID = cb.UserID, token
		switch cb.Event {
		case "delivered":
			ev.Type = channels.EventDelivered
		case "seen":
			ev.Type = channels.EventRead
		default:
			ev.Type, ev.ErrorKind, ev.ErrorMessage = channels.EventFailed, channels.NotReachable, cb.Desc
		}
	default: // webhook probe, client_status, action, …
		return nil, cb.Event, nil
	}
	if ev.From == "" {
		return nil, cb.Event, fmt.Errorf("viber %s: no user id", cb.Event)
	}
	if ev.ProviderEventID == "" {
		return nil, cb.Event, fmt.Errorf("viber %s: no message_token", cb.Event)
	}
	return []channels.Event{ev}, cb.Event, nil
}

// Webhook receives callbacks for one bot.
type Webhook struct {
	cfg  Config
	sink channels.Sink
	log  *slog.Logger
}

// NewWebhook returns the handler for /webhooks/viber/<account>.
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	if cfg.SenderName == "" {
		cfg.SenderName = "Nudge"
	}
	return &Webhook{cfg: cfg, sink: sink, log: channels.WebhookLog(log, channels.Viber, cfg.Account)}
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := channels.ReadPost(w, r, MaxWebhookBody)
	if !ok {
		return
	}
	if st := Verify(h.cfg.Token, r, body); st != 0 {
		channels.Refuse(w, r, h.log, "viber webhook rejected", st)
		return
	}
	events, event, err := ParseCallback(h.cfg.Account, body)
	if err != nil {
		channels.Unreadable(w, r, h.log, "viber callback unreadable", "bad callback", err)
		return
	}
	ack, ok := channels.Store(w, r, h.sink, h.log, events, "viber events not stored", "event", event)
	if !ok {
		return
	}
	if event == "conversation_started" && ack.Welcome != "" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(OutMessage{MinAPIVersion: 1, Sender: Sender{Name: h.cfg.SenderName, Avatar: h.cfg.SenderAvatar}, Type: "text", Text: ack.Welcome})
		return
	}
	w.WriteHeader(http.StatusOK)
}
