package whatsappfake

import (
	"fmt"
	"net/url"
	"unicode/utf8"
)

// validateMedia checks an image or document message object: a link (an
// absolute URL) or a media id, a caption of at most 1024 characters, and
// for documents an optional filename.
func validateMedia(b map[string]any) (string, bool) {
	typ, _ := b["type"].(string)
	obj, _ := b[typ].(map[string]any)
	link, _ := obj["link"].(string)
	id, _ := obj["id"].(string)
	if link == "" && id == "" {
		return fmt.Sprintf("%s.link or %s.id is required", typ, typ), false
	}
	if link != "" {
		if u, err := url.Parse(link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Sprintf("%s.link must be an absolute URL", typ), false
		}
	}
	if c, _ := obj["caption"].(string); utf8.RuneCountInString(c) > 1024 {
		return fmt.Sprintf("%s.caption must be at most 1024 characters", typ), false
	}
	if _, bad := obj["filename"]; bad && typ != "document" {
		return "filename is only for documents", false
	}
	return "", true
}

// validateHeader checks an interactive message's header, when present: a
// text, or an image, video or document with a link or id.
func validateHeader(h any) (string, bool) {
	if h == nil {
		return "", true
	}
	hm, _ := h.(map[string]any)
	switch typ, _ := hm["type"].(string); typ {
	case "text":
		if t, _ := hm["text"].(string); t == "" || utf8.RuneCountInString(t) > 60 {
			return "header.text must be 1..60 characters", false
		}
	case "image", "video", "document":
		return validateMedia(hm)
	default:
		return "header.type must be text, image, video or document", false
	}
	return "", true
}
