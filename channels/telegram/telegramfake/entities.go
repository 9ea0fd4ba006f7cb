package telegramfake

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// Telegram's HTML entity parsing, as far as its length limits need it.

var htmlTags = map[string]bool{"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true, "del": true, "a": true, "code": true, "pre": true, "tg-spoiler": true, "span": true, "blockquote": true, "tg-emoji": true}

// visibleLen returns the UTF-16 length of text after entity parsing, or a
// parse error in the words Telegram uses.
func visibleLen(text, parseMode string) (int, string) {
	if !strings.EqualFold(parseMode, "HTML") {
		return len(utf16.Encode([]rune(text))), ""
	}
	var b strings.Builder
	var stack []string
	for i := 0; i < len(text); {
		switch text[i] {
		case '<':
			j := strings.IndexByte(text[i:], '>')
			if j < 0 {
				return 0, fmt.Sprintf("Unclosed start tag at byte offset %d", i)
			}
			tag := text[i+1 : i+j]
			closing := strings.HasPrefix(tag, "/")
			name := strings.ToLower(strings.Fields(strings.TrimPrefix(tag, "/") + " ")[0])
			if !htmlTags[name] {
				return 0, fmt.Sprintf("Unsupported start tag \"%s\" at byte offset %d", name, i)
			}
			if closing {
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return 0, fmt.Sprintf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, last(stack), name)
				}
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, name)
			}
			i += j + 1
		case '&':
			j := strings.IndexByte(text[i:], ';')
			ent := ""
			if j > 0 {
				ent = text[i+1 : i+j]
			}
			switch {
			case ent == "lt" || ent == "gt" || ent == "amp" || ent == "quot":
				b.WriteByte('x')
				i += j + 1
			case strings.HasPrefix(ent, "#"):
				b.WriteByte('x')
				i += j + 1
			default:
				b.WriteByte('&') // Telegram leaves unknown entities as text
				i++
			}
		default:
			b.WriteByte(text[i])
			i++
		}
	}
	if len(stack) > 0 {
		return 0, fmt.Sprintf("Can't find end tag corresponding to start tag \"%s\"", last(stack))
	}
	return len(utf16.Encode([]rune(b.String()))), ""
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
