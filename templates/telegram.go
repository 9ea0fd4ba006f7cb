package templates

import (
	"fmt"
	"html"
	"strings"
)

// telegramTags are the tags Telegram's HTML parse mode accepts.
var telegramTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "span": true, "tg-spoiler": true,
	"a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true,
}

// telegramVisible returns the text Telegram counts for its length limits
// (tags removed, entities decoded) and checks the markup: only supported
// tags, balanced when balance is set. An '<' that opens no valid tag is an
// error, as it is for Telegram ("Unsupported start tag").
func telegramVisible(s string, balance bool) (string, error) {
	var out strings.Builder
	var stack []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			out.WriteString(s)
			break
		}
		out.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			return "", fmt.Errorf("unclosed '<' in HTML text: write &lt; for a literal '<'")
		}
		tag := s[1:j]
		s = s[j+1:]
		closing := strings.HasPrefix(tag, "/")
		tag = strings.TrimPrefix(tag, "/")
		name := tag
		if k := strings.IndexAny(tag, " \t\n"); k >= 0 {
			name = tag[:k]
		}
		name = strings.ToLower(name)
		if !telegramTags[name] {
			return "", fmt.Errorf("tag <%s> is not supported by Telegram HTML (use b, i, u, s, a, code, pre, blockquote, tg-spoiler)", name)
		}
		if !balance {
			continue
		}
		if closing {
			if len(stack) == 0 || stack[len(stack)-1] != name {
				return "", fmt.Errorf("closing tag </%s> does not match an open tag", name)
			}
			stack = stack[:len(stack)-1]
		} else {
			stack = append(stack, name)
		}
	}
	if len(stack) > 0 {
		return "", fmt.Errorf("tag <%s> is not closed", stack[len(stack)-1])
	}
	return html.UnescapeString(out.String()), nil
}
