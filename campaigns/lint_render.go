package campaigns

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// RenderCheck renders template name for channel ch and a subscriber of
// locale against s with the production renderer, and reports what fails
// (Path relative to the variant; Line and Col in the part's source, 0 for
// the whole part). key and loc name the variant it used. templates owns the
// renderer (templates.CheckRender), and templates imports campaigns, so the
// check is injected (campaigns/channelcheck).
type RenderCheck func(def *Definition, name string, ch channels.Kind, locale string, s Sample) (key, loc string, ps []VariantProblem)

// declarations checks the declared attribute and payload types.
func (l *linter) declarations() {
	check := func(path string, fs Fields) {
		for _, k := range sortedKeys(fs) {
			if err := validateType(k, fs[k]); err != nil {
				l.add(path+"."+k, "invalid-value", "e.g. order_id: string, total: number, paid_at: time, items: [{name: string}]", "%s: %v", path, err)
			}
		}
	}
	check("attributes", l.def.Attributes)
	if e := l.def.Trigger.Event; e != nil {
		check("trigger.event.payload", e.Payload)
	}
	if a := l.def.Trigger.API; a != nil {
		check("trigger.api.payload", a.Payload)
	}
}

// renderTemplates renders every variant of every template, for each
// channel that would use it, against the campaign's sample.
func (l *linter) renderTemplates() {
	if l.render == nil {
		return
	}
	d := l.def
	sample := d.Sample()
	payloadPath := "trigger.event.payload"
	if d.Trigger.API != nil {
		payloadPath = "trigger.api.payload"
	}
	for _, name := range sortedKeys(d.Templates) {
		t := d.Templates[name]
		for _, key := range sortedKeys(t) {
			uses := d.AllChannels()
			if channels.Kind(key).Valid() {
				uses = append(uses, key)
			}
			for _, loc := range sortedKeys(t[key]) {
				vp := "templates." + name + "." + key + "." + loc
				seen := map[string]bool{}
				for _, use := range uses {
					if seen[use] || !channels.Kind(use).Valid() {
						continue
					}
					seen[use] = true
					gotKey, gotLoc, ps := l.render(d, name, channels.Kind(use), loc, sample)
					if gotKey != key || gotLoc != loc {
						continue // another variant serves this channel and locale
					}
					for _, pr := range ps {
						pp := vp
						if pr.Path != "" {
							pp += "." + pr.Path
						}
						hint := pr.Hint
						if h := renderHint(pr.Msg, payloadPath); h != "" {
							hint = h
						}
						l.report(l.f.TextPos(pp, pr.Line, pr.Col), pr.Rule, hint,
							fmt.Sprintf("template %q (%s/%s on %s) %s: %s", name, key, loc, use, pr.Path, pr.Msg))
					}
				}
			}
		}
	}
}

// renderHint says how to fix a field the sample lacks.
func renderHint(msg, payloadPath string) string {
	switch {
	case strings.Contains(msg, ".Subscriber.Attributes."):
		return "declare the attribute under attributes: (e.g. plan: string), or read an optional one with get: {{get .Subscriber.Attributes \"plan\"}}"
	case strings.Contains(msg, ".Payload."):
		return "declare the key under " + payloadPath + " (e.g. order_id: string), or read an optional one with get: {{get .Payload \"order_id\"}}"
	case strings.Contains(msg, ".Subscriber has no field"):
		return "subscriber fields: .Subscriber.Name, .Subscriber.ExternalID, .Subscriber.Locale, .Subscriber.TimeZone, .Subscriber.Attributes.<name>"
	}
	return ""
}

// TextPos returns the position in the file of line and byte column col
// (both from 1) of the string value at path, such as a template text:
// a literal block (|) starts on the line after its indicator, a quoted
// string after its quote. Escapes in quoted strings and folded blocks (>)
// are not mapped: the position is then the start of the value. line or col
// 0 gives the value's position.
func (f *File) TextPos(path string, line, col int) Pos {
	p := f.At(path)
	if line < 1 || col < 1 {
		return p
	}
	lines := strings.Split(string(bytes.TrimPrefix(f.Source, []byte("\xef\xbb\xbf"))), "\n")
	if p.Line < 1 || p.Line > len(lines) {
		return p
	}
	src := lines[p.Line-1]
	start := byteOfRune(src, p.Col-1)
	if start >= len(src) {
		return p
	}
	switch src[start] {
	case '|':
		n := p.Line + line
		if n > len(lines) {
			return p
		}
		indent := -1
		for _, s := range lines[p.Line:] {
			if t := strings.TrimLeft(s, " "); t != "" {
				indent = len(s) - len(t)
				break
			}
		}
		if indent < 0 {
			return p
		}
		s := lines[n-1]
		b := min(indent+col-1, len(s))
		return Pos{n, utf8.RuneCountInString(s[:b]) + 1}
	case '>':
		return p
	case '"', '\'':
		start++
	}
	if line > 1 {
		return Pos{p.Line + line - 1, 1}
	}
	b := min(start+col-1, len(src))
	return Pos{p.Line, utf8.RuneCountInString(src[:b]) + 1}
}

// byteOfRune returns the byte offset of rune index n of s.
func byteOfRune(s string, n int) int {
	i := 0
	for b := range s {
		if i == n {
			return b
		}
		i++
	}
	return len(s)
}
