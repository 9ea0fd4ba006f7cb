package metafake

import (
	"net/url"
	"unicode/utf8"
)

// Generic template limits (FBB/messenger-platform/send-messages/template/generic).
const (
	MaxElements       = 10
	MaxElementTitle   = 80
	MaxElementButtons = 3
)

// validateGeneric checks a generic template payload: 1..10 elements, each
// with a title of 1..80 characters, a subtitle of at most 80, at least one
// field besides the title, absolute image URLs and at most 3 buttons.
func validateGeneric(p map[string]any) (string, bool) {
	els, _ := p["elements"].([]any)
	if len(els) == 0 || len(els) > MaxElements {
		return "generic template needs 1..10 elements", false
	}
	for _, x := range els {
		el, _ := x.(map[string]any)
		title, _ := el["title"].(string)
		if title == "" || utf8.RuneCountInString(title) > MaxElementTitle {
			return "element title must be 1..80 characters", false
		}
		sub, _ := el["subtitle"].(string)
		if utf8.RuneCountInString(sub) > MaxElementTitle {
			return "element subtitle must be at most 80 characters", false
		}
		img, _ := el["image_url"].(string)
		btns, _ := el["buttons"].([]any)
		if sub == "" && img == "" && len(btns) == 0 && el["default_action"] == nil {
			return "element needs at least one field besides title", false
		}
		if img != "" {
			if u, err := url.Parse(img); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return "element image_url must be an absolute URL", false
			}
		}
		if len(btns) > MaxElementButtons {
			return "element holds at most 3 buttons", false
		}
	}
	return "", true
}
