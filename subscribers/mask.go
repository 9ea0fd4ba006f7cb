package subscribers

import (
	"strings"
	"unicode/utf8"
)

// MaskName shows a name as lists of members show it (a segment's sample):
// the first letter of each word, the rest hidden, so a marketer can tell
// members apart without reading who they are. "Анна Петрова" → "А*** П***".
func MaskName(name string) string {
	words := strings.Fields(name)
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		words[i] = string(r) + "***"
	}
	return strings.Join(words, " ")
}
