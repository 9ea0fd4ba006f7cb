package meta

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// Messaging reads the "messaging" webhooks that Messenger (object "page")
// and Instagram (object "instagram") share: one envelope, one event shape,
// a few fields only one product sends.
type Messaging struct {
	Object string        // "page" | "instagram"
	Kind   channels.Kind // the events' channel
	// OpenerIsStart: a postback that carries a referral only opens the
	// thread (Instagram's icebreaker, Messenger's Get Started, tapped after
	// an ig.me / m.me ?ref= link), so it yields the EventStart alone; a
	// press there would reach the inbox as an unmatched reply before any
	// campaign asked anything.
	OpenerIsStart bool
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
// that needs no token (channels.FetchURL).
type attachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL       string `json:"url"`
		StickerID int64  `json:"sticker_id"`
	} `json:"payload"`
}

// attachmentKinds maps the Send API's attachment types to files; fallback
// (shared links), share, reels, location and template attachments carry no
// file Nudge keeps.
var attachmentKinds = map[string]channels.AttachmentKind{
	"image": channels.Photo, "video": channels.Video, "audio": channels.Audio, "file": channels.Document,
	"story_mention": channels.Story,
}

// files lists the attachments of a message. Meta states no name or size; a
// document's name is the last segment of its CDN path, a story's says how
// it came ("mention" or "reply").
func files(in []attachment) []channels.Attachment {
	var out []channels.Attachment
	for _, a := range in {
		k, ok := attachmentKinds[a.Type]
		if !ok || a.Payload.URL == "" {
			continue
		}
		x := channels.Attachment{Kind: k, URL: a.Payload.URL}
		switch {
		case a.Payload.StickerID != 0:
			x.Kind = channels.Sticker
		case k == channels.Document:
			x.Name = urlFileName(a.Payload.URL)
		case k == channels.Story:
			x.Name = "mention"
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
		IsDeleted  bool   `json:"is_deleted"`
		QuickReply *struct {
			Payload string `json:"payload"`
		} `json:"quick_reply"`
		Attachments []attachment `json:"attachments"`
		ReplyTo     *struct {
			Story *struct {
				URL string `json:"url"`
				ID  string `json:"id"`
			} `json:"story"`
		} `json:"reply_to"`
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
	// Read is Messenger's watermark or Instagram's seen mid.
	Read *struct {
		Watermark int64  `json:"watermark"`
		MID       string `json:"mid"`
	} `json:"read"`
}

// ErrObject is returned for a signed body of another object type.
type ErrObject struct{ Want, Got string }

func (e *ErrObject) Error() string { return fmt.Sprintf("webhook object %q, want %q", e.Got, e.Want) }

// Parse turns a webhook body into events: message text and files (images,
// video, audio, files and stickers as Attachments; an Instagram story
// mention as a Story attachment, a story reply as the text with the story
// attached) → EventText, a quick-reply tap → EventButton, a postback →
// EventButton (preceded by EventStart when it carries referral.ref, the
// m.me / ig.me ?ref= of a new thread; only the EventStart with
// OpenerIsStart), a referral event → EventStart,
// deliveries → EventDelivered (one per listed mid, all with the watermark),
// reads → EventRead with the watermark (Messenger) or the seen mid
// (Instagram). Echoes of the account's own messages, deletions, edits and
// reactions are skipped.
func (p Messaging) Parse(body []byte, account string) ([]channels.Event, error) {
	return p.ParseRouted(body, account, nil)
}

// Routes maps the ids Meta names the receiving side by (a page id, an
// Instagram account id, a WhatsApp phone_number_id) to the accounts that
// own them. One Meta app posts the events of every page, account or number
// it serves to one callback URL, so whichever account's webhook receives
// them, each event is attributed through Routes.
type Routes map[string]string

// Add routes id to account; an empty id (not configured) routes nothing.
func (r Routes) Add(id, account string) {
	if id != "" {
		r[id] = account
	}
}

// ParseRouted is Parse with each entry attributed to the account routes
// gives its id (entry.id: the page or Instagram account), or to dflt.
func (p Messaging) ParseRouted(body []byte, dflt string, routes Routes) ([]channels.Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%s webhook: %w", p.Kind, err)
	}
	if env.Object != p.Object {
		return nil, &ErrObject{Want: p.Object, Got: env.Object}
	}
	var out []channels.Event
	for _, e := range env.Entry {
		account := dflt
		if a, ok := routes[e.ID]; ok {
			account = a
		}
		for _, raw := range e.Messaging {
			var m messaging
			if json.Unmarshal(raw, &m) != nil || m.Sender.ID == "" {
				continue
			}
			out = p.event(out, m, raw, account)
		}
	}
	return out, nil
}

func (p Messaging) event(out []channels.Event, m messaging, raw json.RawMessage, account string) []channels.Event {
	ev := func(t channels.EventType, id string) channels.Event {
		return channels.Event{Type: t, Channel: p.Kind, Account: account, ProviderEventID: id,
			From: m.Sender.ID, ProviderAt: millis(m.Timestamp), Raw: raw}
	}
	at := strconv.FormatInt(m.Timestamp, 10)
	switch {
	case m.Message != nil:
		if m.Message.IsEcho || m.Message.IsDeleted {
			return out
		}
		mid := m.Message.MID
		if mid == "" {
			mid = "message:" + m.Sender.ID + ":" + at
		}
		att := files(m.Message.Attachments)
		if r := m.Message.ReplyTo; r != nil && r.Story != nil && r.Story.URL != "" {
			att = append(att, channels.Attachment{Kind: channels.Story, URL: r.Story.URL, Name: "reply"})
		}
		if m.Message.QuickReply != nil {
			x := ev(channels.EventButton, mid)
			x.Payload, x.Text = m.Message.QuickReply.Payload, m.Message.Text
			return append(out, x)
		}
		if m.Message.Text != "" || len(att) > 0 {
			x := ev(channels.EventText, mid)
			x.Text, x.Attachments = m.Message.Text, att
			return append(out, x)
		}
	case m.Postback != nil:
		id := m.Postback.MID
		if id == "" {
			id = "postback:" + m.Sender.ID + ":" + at
		}
		if r := m.Postback.Referral; r != nil && r.Ref != "" {
			x := ev(channels.EventStart, id+":ref")
			x.Code = r.Ref
			out = append(out, x)
			if p.OpenerIsStart {
				return out
			}
		}
		x := ev(channels.EventButton, id)
		x.Payload, x.Text = m.Postback.Payload, m.Postback.Title
		return append(out, x)
	case m.Referral != nil:
		x := ev(channels.EventStart, "referral:"+m.Sender.ID+":"+at)
		x.Code = m.Referral.Ref
		return append(out, x)
	case m.Delivery != nil:
		wm := millis(m.Delivery.Watermark)
		base := "delivery:" + m.Sender.ID + ":" + strconv.FormatInt(m.Delivery.Watermark, 10)
		if len(m.Delivery.MIDs) == 0 {
			x := ev(channels.EventDelivered, base)
			x.Watermark = wm
			return append(out, x)
		}
		for _, mid := range m.Delivery.MIDs {
			x := ev(channels.EventDelivered, base+":"+mid)
			x.Watermark, x.ProviderMessageID = wm, mid
			out = append(out, x)
		}
	case m.Read != nil && m.Read.MID != "":
		x := ev(channels.EventRead, "read:"+m.Sender.ID+":"+m.Read.MID)
		x.ProviderMessageID = m.Read.MID
		return append(out, x)
	case m.Read != nil:
		x := ev(channels.EventRead, "read:"+m.Sender.ID+":"+strconv.FormatInt(m.Read.Watermark, 10))
		x.Watermark = millis(m.Read.Watermark)
		return append(out, x)
	}
	return out
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
