package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
	"github.com/nudge-engine/nudge/consent"
)

// NewWebhook returns the handler mounted at /webhooks/whatsapp/<account> (see
// meta.Webhook: handshake, signature before parsing, 200 after storing).
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return &meta.Webhook{Name: "whatsapp", Account: cfg.Account, AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken,
		Parse: func(body []byte) ([]channels.Event, error) { return parse(body, cfg.Account, cfg.Routes) }, Sink: sink, Log: log}
}

type envelope struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					WaID    string `json:"wa_id"`
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
				} `json:"contacts"`
				Messages []json.RawMessage `json:"messages"`
				Statuses []json.RawMessage `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type inbound struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Text      struct {
		Body string `json:"body"`
	} `json:"text"`
	Interactive struct {
		Type        string `json:"type"`
		ButtonReply struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Button struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Context struct {
		ID string `json:"id"`
	} `json:"context"`
	Image    media `json:"image"`
	Video    media `json:"video"`
	Document media `json:"document"`
	Audio    media `json:"audio"`
	Voice    media `json:"voice"`
}

// media is the Cloud API media object of an inbound message: the file is
// named by a media id, resolved through GET /{media-id} (Client.Fetch).
type media struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	// Voice marks an audio message recorded in the app (a voice note).
	Voice bool `json:"voice"`
}

// attachment is m as a channels.Attachment; the Cloud API states no size
// in the webhook, so Fetch learns it from the media node.
func (m media) attachment(k channels.AttachmentKind) []channels.Attachment {
	if m.ID == "" {
		return nil
	}
	return []channels.Attachment{{Kind: k, ProviderFileID: m.ID, MIME: m.MIMEType, Name: m.Filename}}
}

type status struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Timestamp   string `json:"timestamp"`
	RecipientID string `json:"recipient_id"`
	Opaque      string `json:"biz_opaque_callback_data"`
	Errors      []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

// ErrNotWhatsApp is returned for a signed body of another object type.
var ErrNotWhatsApp = errors.New("not a whatsapp_business_account webhook")

// Parse turns a webhook body into events: text, and photos, videos,
// documents, audio and voice notes (their captions as text, their media ids
// as Attachments) → EventText, interactive button/list replies and template quick replies →
// EventButton, statuses delivered/read/failed → EventDelivered/Read/Failed
// (sent is already known from the send answer and is skipped). WhatsApp has
// no start payload: the opt-in code arrives in the prefilled message the
// customer sends, so a text (or caption) with a code-shaped token in it
// (consent.CodeCandidates) becomes EventStart carrying the whole message in
// Text. Whether the token is a known code only consent can say; when it is
// not, the inbound router handles the message as the text it is.
func Parse(body []byte, account string) ([]channels.Event, error) { return parse(body, account, nil) }

// parse is Parse with each change attributed to the account of its number
// in numbers, when listed there.
func parse(body []byte, dflt string, numbers meta.Routes) ([]channels.Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("whatsapp webhook: %w", err)
	}
	if env.Object != "whatsapp_business_account" {
		return nil, ErrNotWhatsApp
	}
	var out []channels.Event
	for _, e := range env.Entry {
		for _, ch := range e.Changes {
			if ch.Field != "" && ch.Field != "messages" {
				continue
			}
			account := dflt
			if a, ok := numbers[ch.Value.Metadata.PhoneNumberID]; ok {
				account = a
			}
			names := map[string]string{}
			for _, c := range ch.Value.Contacts {
				names[c.WaID] = c.Profile.Name
			}
			for _, raw := range ch.Value.Messages {
				var m inbound
				if json.Unmarshal(raw, &m) != nil || m.From == "" {
					continue
				}
				ev := channels.Event{
					Channel: channels.WhatsApp, Account: account, ProviderEventID: m.ID,
					From: m.From, Name: names[m.From], ProviderAt: unix(m.Timestamp), Raw: raw,
				}
				switch m.Type {
				case "text":
					ev.Type, ev.Text = channels.EventText, m.Text.Body
				case "interactive":
					ev.Type, ev.ProviderMessageID = channels.EventButton, m.Context.ID
					switch m.Interactive.Type {
					case "button_reply":
						ev.Payload, ev.Text = m.Interactive.ButtonReply.ID, m.Interactive.ButtonReply.Title
					case "list_reply":
						ev.Payload, ev.Text = m.Interactive.ListReply.ID, m.Interactive.ListReply.Title
					default:
						continue
					}
				case "button":
					ev.Type, ev.ProviderMessageID = channels.EventButton, m.Context.ID
					ev.Payload, ev.Text = m.Button.Payload, m.Button.Text
				case "image":
					ev.Type, ev.Text, ev.Attachments = channels.EventText, m.Image.Caption, m.Image.attachment(channels.Photo)
				case "video":
					ev.Type, ev.Text, ev.Attachments = channels.EventText, m.Video.Caption, m.Video.attachment(channels.Video)
				case "document":
					ev.Type, ev.Text, ev.Attachments = channels.EventText, m.Document.Caption, m.Document.attachment(channels.Document)
				case "audio":
					k := channels.Audio
					if m.Audio.Voice {
						k = channels.Voice
					}
					ev.Type, ev.Attachments = channels.EventText, m.Audio.attachment(k)
				case "voice": // older API versions name voice notes apart
					ev.Type, ev.Attachments = channels.EventText, m.Voice.attachment(channels.Voice)
				default: // reactions, stickers, locations, system notices
					continue
				}
				if ev.Type == channels.EventText && len(consent.CodeCandidates(ev.Text)) > 0 {
					ev.Type = channels.EventStart
				}
				out = append(out, ev)
			}
			for _, raw := range ch.Value.Statuses {
				var s status
				if json.Unmarshal(raw, &s) != nil || s.ID == "" {
					continue
				}
				ev := channels.Event{
					Channel: channels.WhatsApp, Account: account, ProviderEventID: s.ID + ":" + s.Status,
					From: s.RecipientID, ProviderMessageID: s.ID, Correlation: s.Opaque,
					ProviderAt: unix(s.Timestamp), Raw: raw,
				}
				switch s.Status {
				case "delivered":
					ev.Type = channels.EventDelivered
				case "read":
					ev.Type = channels.EventRead
				case "failed":
					ev.Type = channels.EventFailed
					ev.ErrorKind = channels.Transient
					if len(s.Errors) > 0 {
						x := s.Errors[0]
						msg := x.Message
						if msg == "" {
							msg = x.Title
						}
						ce := Classify(0, x.Code, msg+detail(x.ErrorData.Details))
						ev.ErrorKind, ev.ErrorCode, ev.ErrorMessage = ce.Kind, ce.Code, ce.Message
					}
				default:
					continue
				}
				out = append(out, ev)
			}
		}
	}
	return out, nil
}

func unix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
