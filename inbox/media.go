package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// DefaultMediaMax is the largest attachment kept (NUDGE_INBOX_MEDIA_MAX_BYTES).
const DefaultMediaMax = 10 << 20

// Fetcher downloads a file a customer sent through the provider of its
// channel (Telegram getFile, a WhatsApp media id, a Viber or VK URL), keeping
// at most max bytes: a bigger file is a *channels.TooLargeError.
type Fetcher interface {
	Fetch(ctx context.Context, ch channels.Kind, account string, a channels.Attachment, max int64) (channels.File, error)
}

// MediaRef is an attachment in a conversation's history.
type MediaRef struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	MIME   string `json:"mime"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Stored bool   `json:"stored"`
	Note   string `json:"note,omitempty"`
}

// IsImage says the page may show it inline.
func (m MediaRef) IsImage() bool {
	return m.Stored && inlineTypes[m.MIME] && strings.HasPrefix(m.MIME, "image/")
}

// IsAudio says the page may play it inline.
func (m MediaRef) IsAudio() bool {
	return m.Stored && inlineTypes[m.MIME] && strings.HasPrefix(m.MIME, "audio/")
}

// SizeText is the size for people.
func (m MediaRef) SizeText() string { return channels.SizeString(m.Size) }

// Media is a stored attachment with its bytes.
type Media struct {
	ID   int64  `db:"id"`
	Kind string `db:"kind"`
	MIME string `db:"mime"`
	Name string `db:"name"`
	Size int64  `db:"size"`
	Data []byte `db:"data"`
	Note string `db:"note"`
}

// inlineTypes are the types a browser may render in the page; anything else
// is served as a download (an HTML or SVG "photo" must never run as a page).
var inlineTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true,
	"audio/ogg": true, "audio/mpeg": true, "audio/mp4": true, "video/mp4": true,
}

// Inline reports whether the file may be shown in the page rather than
// downloaded.
func (m Media) Inline() bool { return inlineTypes[m.MIME] }

// saveMedia fetches the attachments of ev and keeps each in reply_media, or
// a note saying why not (over the cap, the provider refused): a reply is
// routed whatever became of its files. An event processed again keeps the
// rows it has.
func (r *Router) saveMedia(ctx context.Context, ev channels.Event, subscriberID int64) error {
	if len(ev.Attachments) == 0 {
		return nil
	}
	var n int
	if err := r.db.GetContext(ctx, &n, qMediaStored, ev.Channel, ev.ProviderEventID); err != nil {
		return fmt.Errorf("inbox: media: %w", err)
	}
	if n >= len(ev.Attachments) {
		return nil
	}
	max := r.MediaMax
	if max <= 0 {
		max = DefaultMediaMax
	}
	for i, a := range ev.Attachments {
		var data []byte
		var note string
		mimeType, name, size := a.MIME, a.Name, a.Size
		if r.Media == nil {
			note = "not fetched: no " + string(ev.Channel) + " client is configured"
		} else if f, err := r.Media.Fetch(ctx, ev.Channel, ev.Account, a, max); err != nil {
			if tl, ok := channels.IsTooLarge(err); ok {
				note = fmt.Sprintf("not kept: %s is over the %s limit", sizeOver(tl), channels.SizeString(max))
				size = tl.Size
			} else {
				note = "could not fetch from " + string(ev.Channel) + ": " + err.Error()
				r.log.WarnContext(ctx, "inbox media fetch failed", "channel", ev.Channel, "kind", a.Kind, "err", err)
			}
		} else {
			data, size = f.Data, int64(len(f.Data))
			if f.MIME != "" {
				mimeType = f.MIME
			}
			if f.Name != "" {
				name = f.Name
			}
			// The bytes decide whether it is a picture: a declared image
			// that is not one is served as a download, never inline.
			if sniffed := http.DetectContentType(data); strings.HasPrefix(sniffed, "image/") || mimeType == "" {
				mimeType = sniffed
			} else if strings.HasPrefix(mimeType, "image/") {
				mimeType = "application/octet-stream"
			}
		}
		if data == nil && note == "" {
			data = []byte{}
		}
		if _, err := r.db.ExecContext(ctx, qInsertMedia, subscriberID, ev.Channel, ev.ProviderEventID, i, string(a.Kind),
			cleanMIME(mimeType), name, size, data, note, ev.At); err != nil {
			return fmt.Errorf("inbox: store media: %w", err)
		}
	}
	return nil
}

// sizeOver is the size of a file over the cap: exact when the provider said,
// else "more than the limit".
func sizeOver(tl *channels.TooLargeError) string {
	if tl.Size == tl.Max+1 {
		return "the file"
	}
	return channels.SizeString(tl.Size)
}

// cleanMIME keeps a bare, lower-case type/subtype and drops anything else.
func cleanMIME(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if strings.Count(s, "/") != 1 || strings.ContainsAny(s, " \t\r\n\"") {
		return "application/octet-stream"
	}
	return s
}

// Media returns a stored attachment; ErrNotFound when there is none.
func (s *Service) Media(ctx context.Context, id int64) (Media, error) {
	var m Media
	if err := s.mediaAccess(ctx, id); err != nil {
		return m, err
	}
	err := db.Get(ctx, s.db, &m, ErrNotFound, fmt.Sprintf("inbox: media %d", id), qMedia, id)
	return m, err
}

func decodeMedia(raw []byte) ([]MediaRef, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var out []MediaRef
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("inbox: media refs: %w", err)
	}
	return out, nil
}
