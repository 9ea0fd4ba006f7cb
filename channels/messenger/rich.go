package messenger

import (
	"fmt"

	"github.com/nudge-engine/nudge/channels"
)

// Albums and documents. An album goes as a generic template: a carousel of
// one element per image (title "1/3", "2/3", …, since the template requires
// a title and Nudge has no per-image captions); a document as a file
// attachment by URL. Both precede the text message, which keeps the
// buttons (a carousel's buttons would belong to one card).

// Limits of the generic template.
const (
	MaxElements     = 10
	MaxElementTitle = 80
)

// mediaMessages returns the message objects of m's album and document, in
// sending order.
func mediaMessages(m channels.Message) ([]map[string]any, error) {
	var out []map[string]any
	if n := len(m.Images); n > 0 {
		lim := channels.MediaLimitsOf(channels.Messenger)
		if n < lim.AlbumMin || n > lim.AlbumMax {
			return nil, invalid("album of %d images, a Messenger carousel takes %d..%d", n, lim.AlbumMin, lim.AlbumMax)
		}
		els := make([]map[string]any, n)
		for i, u := range m.Images {
			els[i] = map[string]any{"title": fmt.Sprintf("%d/%d", i+1, n), "image_url": u}
		}
		out = append(out, map[string]any{"attachment": map[string]any{"type": "template", "payload": map[string]any{
			"template_type": "generic", "elements": els,
		}}})
	}
	if d := m.Document; d != nil {
		out = append(out, map[string]any{"attachment": map[string]any{"type": "file", "payload": map[string]any{
			"url": d.URL, "is_reusable": true,
		}}})
	}
	return out, nil
}

func invalid(format string, args ...any) *channels.Error {
	return &channels.Error{Kind: channels.Invalid, Code: "nudge_limits", Message: fmt.Sprintf(format, args...)}
}
