package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// SecretHeader carries setWebhook's secret_token on every update.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Update is the part of a Bot API Update that Nudge reads.
type Update struct {
	UpdateID      int64          `json:"update_id"`
	Message       *Message       `json:"message"`
	CallbackQuery *CallbackQuery `json:"callback_query"`
	MyChatMember  *ChatMember    `json:"my_chat_member"`
	// PreCheckoutQuery asks whether an invoice can be paid (payments.go).
	PreCheckoutQuery *PreCheckoutQuery `json:"pre_checkout_query"`
}

// User is a Telegram user.
type User struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Username     string `json:"username"`
	LanguageCode string `json:"language_code"`
}

// Chat is a Telegram chat.
type Chat struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

// Message is an inbound message.
type Message struct {
	MessageID int64  `json:"message_id"`
	Date      int64  `json:"date"`
	From      *User  `json:"from"`
	Chat      Chat   `json:"chat"`
	Text      string `json:"text"`
	Caption   string `json:"caption"`
	// Files the user sent. Photo lists the sizes of one picture, smallest first.
	Photo       []FileRef       `json:"photo"`
	Voice       *FileRef        `json:"voice"`
	Audio       *FileRef        `json:"audio"`
	Video       *FileRef        `json:"video"`
	VideoNote   *FileRef        `json:"video_note"`
	Document    *FileRef        `json:"document"`
	Sticker     *FileRef        `json:"sticker"`
	ReplyMarkup *InlineKeyboard `json:"reply_markup"`
	// SuccessfulPayment makes the message a payment's service message
	// (payments.go), not something the user wrote.
	SuccessfulPayment *SuccessfulPayment `json:"successful_payment"`
}

// FileRef is the part of PhotoSize, Voice, Audio, Video, VideoNote,
// Document and Sticker that Nudge reads.
type FileRef struct {
	FileID   string `json:"file_id"`
	FileSize int64  `json:"file_size"`
	MimeType string `json:"mime_type"`
	FileName string `json:"file_name"`
}

// attachments lists the files of m, the largest size of a photo.
func (m *Message) attachments() []channels.Attachment {
	var out []channels.Attachment
	add := func(k channels.AttachmentKind, f *FileRef, mime string) {
		if f == nil || f.FileID == "" {
			return
		}
		if f.MimeType != "" {
			mime = f.MimeType
		}
		out = append(out, channels.Attachment{Kind: k, ProviderFileID: f.FileID, MIME: mime, Name: f.FileName, Size: f.FileSize})
	}
	if n := len(m.Photo); n > 0 {
		add(channels.Photo, &m.Photo[n-1], "image/jpeg") // Telegram re-encodes photos as JPEG
	}
	add(channels.Voice, m.Voice, "audio/ogg")
	add(channels.Audio, m.Audio, "")
	add(channels.Video, m.Video, "")
	add(channels.Video, m.VideoNote, "video/mp4")
	add(channels.Document, m.Document, "")
	add(channels.Sticker, m.Sticker, "image/webp")
	return out
}

// label is the text of the button on m whose callback_data is data.
func (m *Message) label(data string) string {
	if m == nil || m.ReplyMarkup == nil {
		return ""
	}
	for _, row := range m.ReplyMarkup.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData == data {
				return b.Text
			}
		}
	}
	return ""
}

// CallbackQuery is an inline button press.
type CallbackQuery struct {
	ID      string   `json:"id"`
	From    User     `json:"from"`
	Message *Message `json:"message"`
	Data    string   `json:"data"`
}

// ChatMember is a my_chat_member update.
type ChatMember struct {
	Chat          Chat  `json:"chat"`
	From          User  `json:"from"`
	Date          int64 `json:"date"`
	NewChatMember struct {
		Status string `json:"status"`
	} `json:"new_chat_member"`
}

// ParseUpdate turns one webhook body into Nudge events (none for updates
// Nudge does not use) and the callback query id to answer, if any.
func ParseUpdate(account string, body []byte) ([]channels.Event, string, error) {
	var u Update
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, "", fmt.Errorf("telegram update: %w", err)
	}
	if u.UpdateID == 0 {
		return nil, "", errors.New("telegram update: no update_id")
	}
	ev := channels.Event{
		Channel:         channels.Telegram,
		Account:         account,
		ProviderEventID: strconv.FormatInt(u.UpdateID, 10),
		Raw:             body,
	}
	who := func(c Chat, from *User, date int64) {
		ev.From = strconv.FormatInt(c.ID, 10)
		if from != nil {
			ev.Name = strings.TrimSpace(from.FirstName + " " + from.LastName)
			ev.Locale = from.LanguageCode
		}
		if date > 0 {
			ev.ProviderAt = time.Unix(date, 0).UTC()
		}
	}
	switch {
	case u.Message != nil && u.Message.SuccessfulPayment != nil:
		return nil, "", nil // a payment, not a message: the webhook's payments path
	case u.Message != nil:
		m := u.Message
		who(m.Chat, m.From, m.Date)
		text := m.Text
		if text == "" {
			text = m.Caption
		}
		if code, ok := startCode(m.Text); ok {
			ev.Type, ev.Code = channels.EventStart, code
		} else {
			ev.Type, ev.Text = channels.EventText, text
			ev.Attachments = m.attachments()
		}
		return []channels.Event{ev}, "", nil
	case u.CallbackQuery != nil:
		q := u.CallbackQuery
		c := Chat{ID: q.From.ID, Type: "private"}
		if q.Message != nil {
			c = q.Message.Chat
		}
		who(c, &q.From, 0) // the press time is not sent; At stays zero and the sink stamps it
		ev.Type, ev.Payload, ev.Label = channels.EventButton, q.Data, q.Message.label(q.Data)
		return []channels.Event{ev}, q.ID, nil
	case u.MyChatMember != nil:
		cm := u.MyChatMember
		who(cm.Chat, &cm.From, cm.Date)
		switch cm.NewChatMember.Status {
		case "kicked":
			ev.Type = channels.EventBlocked
		case "member":
			ev.Type = channels.EventUnblocked
		default:
			return nil, "", nil
		}
		return []channels.Event{ev}, "", nil
	}
	return nil, "", nil
}

// startCode recognises "/start", "/start CODE" and "/start@bot CODE".
func startCode(text string) (string, bool) {
	if !strings.HasPrefix(text, "/start") {
		return "", false
	}
	rest := text[len("/start"):]
	if strings.HasPrefix(rest, "@") {
		i := strings.IndexAny(rest, " \t\n")
		if i < 0 {
			return "", true
		}
		rest = rest[i:]
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n' {
		return "", false // "/startle" is text
	}
	return strings.TrimSpace(rest), true
}

// Webhook receives updates for one bot.
type Webhook struct {
	cfg    Config
	sink   channels.Sink
	log    *slog.Logger
	client *Client
	pay    channels.Payments // nil: every pre-checkout is refused
}

// NewWebhook returns the handler for /webhooks/telegram/<account>. It answers
// callback queries through the Bot API at cfg.APIURL.
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return NewWebhookWithClient(cfg, sink, log, New(cfg, &http.Client{Timeout: 10 * time.Second}))
}

// NewWebhookWithClient is NewWebhook with the client used for answerCallbackQuery.
func NewWebhookWithClient(cfg Config, sink channels.Sink, log *slog.Logger, c *Client) http.Handler {
	return &Webhook{cfg: cfg, sink: sink, log: channels.WebhookLog(log, channels.Telegram, cfg.Account), client: c}
}

// Verify checks the secret header in constant time: 401 when missing, 403
// when wrong or when no secret is configured.
func Verify(secret string, r *http.Request) int {
	got := r.Header.Get(SecretHeader)
	if got == "" {
		return http.StatusUnauthorized
	}
	if secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
		return http.StatusForbidden
	}
	return 0
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		// The secret header is checked before the body is read.
		if st := Verify(h.cfg.WebhookSecret, r); st != 0 {
			channels.Refuse(w, r, h.log, "telegram webhook rejected", st)
			return
		}
	}
	body, ok := channels.ReadPost(w, r, MaxWebhookBody)
	if !ok {
		return
	}
	if done := h.payment(w, r, body); done {
		return
	}
	events, callbackID, err := ParseUpdate(h.cfg.Account, body)
	if err != nil {
		channels.Unreadable(w, r, h.log, "telegram update unreadable", "bad update", err)
		return
	}
	if len(events) > 0 {
		if _, ok := channels.Store(w, r, h.sink, h.log, events, "telegram events not stored", "update_id", events[0].ProviderEventID); !ok {
			return
		}
	}
	if callbackID != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		if err := h.client.AnswerCallbackQuery(ctx, callbackID, ""); err != nil {
			h.log.WarnContext(ctx, "answerCallbackQuery failed", "err", err)
		}
		cancel()
	}
	w.WriteHeader(http.StatusOK)
}
