package telegram

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Albums and documents. A message with Images goes as sendMediaGroup (the
// text as the first photo's caption when it fits and there are no
// buttons: an album takes no reply_markup); a Document as sendDocument (the
// text and buttons on it when the text fits a caption). Text that did not
// ride on either goes last as sendMessage with the buttons, so the
// customer's button press refers to the last message. Each part is its own
// request; a failed later part reports the parts delivered before it
// (channels.Error.PartsSent) and the worker's retry skips them.

// mediaItem is an InputMediaPhoto.
type mediaItem struct {
	Type      string `json:"type"`
	Media     string `json:"media"`
	Caption   string `json:"caption,omitempty"`
	ParseMode string `json:"parse_mode,omitempty"`
}

type sentMessage struct {
	MessageID int64 `json:"message_id"`
	Chat      struct {
		ID int64 `json:"id"`
	} `json:"chat"`
}

// providerID is chat:message, as Send reports it.
func (m sentMessage) providerID() string {
	return strconv.FormatInt(m.Chat.ID, 10) + ":" + strconv.FormatInt(m.MessageID, 10)
}

func local(format string, args ...any) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Code: "local", Message: fmt.Sprintf(format, args...)}
}

// sendRich sends a message carrying Images or a Document, part by part
// (channels.SendParts): a retry resumes at the part that failed.
func (c *Client) sendRich(ctx context.Context, m channels.Message) (channels.Result, error) {
	parts, err := c.richParts(m)
	if err != nil {
		return channels.Result{}, err
	}
	return channels.SendParts(ctx, m, parts)
}

// richParts are the requests of a message carrying Images or a Document,
// in order: a photo (ImageURL beside a document), the album, the
// document, and the text that rode on neither.
func (c *Client) richParts(m channels.Message) ([]channels.Part, error) {
	lim := channels.MediaLimitsOf(channels.Telegram)
	text, buttons := m.Text, m.Buttons
	fits := func(s string, most int) bool { return utf8.RuneCountInString(s) <= most }
	parse := ""
	if m.Format == channels.HTML {
		parse = "HTML"
	}
	if len(buttons) > 0 && text == "" && m.Document == nil {
		return nil, local("buttons need a text to go with an album")
	}
	var parts []channels.Part
	if m.ImageURL != "" { // one image beside a document: a photo first
		photo := channels.Message{To: m.To, ImageURL: m.ImageURL}
		parts = append(parts, func(ctx context.Context) (channels.Result, error) { return c.Send(ctx, photo) })
	}
	if n := len(m.Images); n > 0 {
		if n < lim.AlbumMin || n > lim.AlbumMax {
			return nil, local("album of %d images, Telegram takes %d-%d", n, lim.AlbumMin, lim.AlbumMax)
		}
		items := make([]mediaItem, n)
		for i, u := range m.Images {
			items[i] = mediaItem{Type: "photo", Media: u}
		}
		if text != "" && m.Document == nil && len(buttons) == 0 && fits(text, lim.AlbumCaption) {
			items[0].Caption, items[0].ParseMode, text = text, parse, ""
		}
		parts = append(parts, func(ctx context.Context) (channels.Result, error) {
			var msgs []sentMessage
			if err := c.Call(ctx, "sendMediaGroup", map[string]any{"chat_id": chatID(m.To), "media": items}, &msgs); err != nil {
				return channels.Result{}, err
			}
			if len(msgs) == 0 {
				return channels.Result{}, &channels.Error{Kind: channels.Transient, Code: "200", Message: "sendMediaGroup: no messages in the result"}
			}
			return channels.Result{ProviderID: msgs[0].providerID(), SentAt: c.api.Now()}, nil
		})
	}
	if d := m.Document; d != nil {
		if !lim.DocumentTypeOK(d.Ext()) {
			return nil, local("document %q: Telegram fetches only %v files by URL", d.FileName(), lim.DocumentTypes)
		}
		req := map[string]any{"chat_id": chatID(m.To), "document": d.URL}
		if text != "" && fits(text, MaxCaption) {
			req["caption"], text = text, ""
			if parse != "" {
				req["parse_mode"] = parse
			}
		}
		if text == "" && len(buttons) > 0 {
			kb, err := Keyboard(buttons)
			if err != nil {
				return nil, local("%v", err)
			}
			req["reply_markup"], buttons = kb, nil
		}
		parts = append(parts, func(ctx context.Context) (channels.Result, error) {
			var msg sentMessage
			if err := c.Call(ctx, "sendDocument", req, &msg); err != nil {
				return channels.Result{}, err
			}
			return channels.Result{ProviderID: msg.providerID(), SentAt: c.api.Now()}, nil
		})
	}
	if text == "" && len(buttons) == 0 {
		return parts, nil
	}
	rest := m
	rest.Images, rest.Document, rest.ImageURL, rest.Text, rest.Buttons, rest.SkipParts = nil, nil, "", text, buttons, 0
	return append(parts, func(ctx context.Context) (channels.Result, error) { return c.Send(ctx, rest) }), nil
}
