package templates

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// Rules of CheckRender beyond the limits'.
const (
	RuleExec = "template_exec" // the variant fails to execute against the data
	RuleHTML = "html_markup"   // an email HTML part leaves a tag open or closes one never opened
)

// CheckRender renders template name for channel ch and the subscriber
// locale of d exactly as Render does (same variant lookup, parse, escaping,
// execution and checks of the result) and reports what fails, each with the
// line and byte column in the part's source (Problem.Line, Problem.Col): a
// field or map key d lacks, a function given the wrong type, Telegram markup
// that does not balance, a link button whose URL is not absolute, and, for
// email, an HTML part that leaves a tag open. chanKey and locale name the
// variant used. Lint calls it with a sample (campaigns.Definition.Sample);
// problems CheckVariant finds in the source (syntax, limits) are not repeated.
func CheckRender(def *campaigns.Definition, name string, ch channels.Kind, d Data) (chanKey, locale string, ps []Problem) {
	v, chanKey, locale, err := Variant(def, name, ch, d.Subscriber.Locale)
	if err != nil {
		return "", "", nil // a missing variant is lint's missing-variant rule
	}
	out, err := NewRenderer().Render("", def, name, ch, d)
	var e *Error
	switch {
	case errors.As(err, &e) && errors.Is(e.Err, ErrExec):
		ps = append(ps, execProblem(e.Part, partSource(v, e.Part), e.Err))
		// The render stopped there: check the markup of the source alone, so
		// that one run of lint reports both.
		if ch == channels.Telegram {
			if off, msg := tagScan(blankActions(v.Text), telegramVoid); off >= 0 {
				if _, err := telegramVisible(blankActions(v.Text), false); err == nil {
					line, col := lineCol(v.Text, off)
					ps = append(ps, Problem{Path: "text", Rule: RuleMarkup, Msg: msg, Line: line, Col: col})
				}
			}
		}
		if ch == channels.Email && v.HTML != "" {
			if off, msg := htmlProblem(blankActions(v.HTML)); off >= 0 {
				line, col := lineCol(v.HTML, off)
				ps = append(ps, Problem{Path: "html", Rule: RuleHTML, Msg: msg, Line: line, Col: col})
			}
		}
	case errors.As(err, &e):
		for _, p := range e.Problems {
			switch p.Rule {
			case RuleMarkup:
				src := v.Text
				if _, err := telegramVisible(blankActions(src), false); err != nil {
					continue // an unsupported tag: CheckVariant reports it from the source
				}
				p.Line, p.Col = lineCol(src, tagProblem(blankActions(src), telegramVoid))
				ps = append(ps, p)
			case RuleButtonURL:
				ps = append(ps, p)
			}
		}
	case err == nil && ch == channels.Email && v.HTML != "":
		if off, msg := htmlProblem(out.HTML); off >= 0 {
			p := Problem{Path: "html", Rule: RuleHTML, Msg: msg}
			p.Line, p.Col = lineCol(v.HTML, tagProblem(blankActions(v.HTML), htmlVoid))
			ps = append(ps, p)
		}
	}
	return chanKey, locale, ps
}

// execError matches text/template's execution errors:
// `template: text:1:9: executing "text" at <.Subscriber.Nme>: reason`.
var execError = regexp.MustCompile(`(?s)template: [^:]+:(\d+):(\d+): executing "[^"]*" at <(.*?)>: (.*)`)

var (
	noField = regexp.MustCompile(`can't evaluate field (\w+) in type \*?templates\.(\w+)`)
	noKey   = regexp.MustCompile(`map has no entry for key "([^"]*)"`)
)

// partSource returns the source of a part as Render names it.
func partSource(v campaigns.Variant, part string) string {
	switch part {
	case "text":
		return v.Text
	case "subject":
		return v.Subject
	case "image":
		return v.Image
	case "html":
		return v.HTML
	}
	if src, ok := mediaSource(v, part); ok {
		return src
	}
	for i, b := range v.Buttons {
		switch part {
		case fmt.Sprintf("buttons[%d].text", i):
			return b.Text
		case fmt.Sprintf("buttons[%d].url", i):
			return b.URL
		}
	}
	if wt := v.WhatsAppTemplate; wt != nil {
		for i, p := range wt.Params {
			if part == fmt.Sprintf("whatsapp_template.params[%d]", i) {
				return p
			}
		}
	}
	return ""
}

// chainStart moves a byte column (from 1) on line of src back to the start
// of the field chain it is in: text/template places a chain's error at its
// second field (".order_id" of ".Payload.order_id"), the author looks for
// the first.
func chainStart(src string, line, col int) int {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) || col < 1 || col > len(lines[line-1])+1 {
		return col
	}
	l := lines[line-1]
	i := col - 1
	for i > 0 {
		c := l[i-1]
		if c != '.' && c != '_' && c != '$' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			break
		}
		i--
	}
	return i + 1
}

// execProblem turns an execution error into a Problem naming the action and
// what it lacks, at the start of the field chain in src.
func execProblem(part, src string, err error) Problem {
	p := Problem{Path: part, Rule: RuleExec, Msg: err.Error()}
	m := execError.FindStringSubmatch(err.Error())
	if m == nil {
		return p
	}
	p.Line, _ = strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2]) // a byte offset in the line, from 0
	p.Col = chainStart(src, p.Line, col+1)
	action, reason := m[3], m[4]
	switch f := noField.FindStringSubmatch(reason); {
	case f != nil && f[2] == "Subscriber":
		reason = fmt.Sprintf(".Subscriber has no field %s (it has ID, ExternalID, Name, Locale, TimeZone, Attributes)", f[1])
	case f != nil && f[2] == "Data":
		reason = fmt.Sprintf("no field %s (templates see .Subscriber, .Payload, .Now, .CampaignID)", f[1])
	case noKey.MatchString(reason):
		reason = fmt.Sprintf("no key %q", noKey.FindStringSubmatch(reason)[1])
	}
	p.Msg = fmt.Sprintf("{{%s}}: %s", action, reason)
	return p
}

// blankActions replaces every {{…}} of src with spaces (newlines kept), so
// that markup can be scanned at the positions of the source.
func blankActions(src string) string {
	b := []byte(src)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '{' || b[i+1] != '{' {
			continue
		}
		end := strings.Index(src[i+2:], "}}")
		if end < 0 {
			end = len(src) - i - 2
		} else {
			end += 2
		}
		for j := i; j < i+2+end; j++ {
			if b[j] != '\n' {
				b[j] = ' '
			}
		}
		i += 1 + end
	}
	return string(b)
}

func telegramVoid(string) bool { return false }

// htmlVoid: elements without an end tag, or whose end tag may be left out.
func htmlVoid(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
		"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup", "colgroup",
		"html", "head", "body", "rt", "rp":
		return true
	}
	return false
}

// tagScan walks the tags of s and returns the byte offset of the first one
// that does not balance (a closing tag that closes nothing open, or the
// innermost tag left open at the end) with a message; -1 when balanced.
// Names for which skip is true are ignored.
func tagScan(s string, skip func(string) bool) (int, string) {
	type open struct {
		name string
		off  int
	}
	var stack []open
	for i := 0; i < len(s); i++ {
		if s[i] != '<' {
			continue
		}
		lt := i
		j := i + 1
		closing := j < len(s) && s[j] == '/'
		if closing {
			j++
		}
		k := j
		for k < len(s) && (s[k] == '-' || s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z' || s[k] >= '0' && s[k] <= '9') {
			k++
		}
		if k == j {
			continue // "< 5", "<!--": not a tag
		}
		end := strings.IndexByte(s[k:], '>')
		if end < 0 {
			return i, "unclosed '<'"
		}
		name := strings.ToLower(s[j:k])
		selfClosing := s[k+end-1] == '/'
		i = k + end
		if skip(name) || selfClosing {
			continue
		}
		if !closing {
			stack = append(stack, open{name, lt})
			continue
		}
		if len(stack) == 0 || stack[len(stack)-1].name != name {
			return lt, fmt.Sprintf("closing tag </%s> does not match an open tag", name)
		}
		stack = stack[:len(stack)-1]
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return top.off, fmt.Sprintf("tag <%s> is not closed", top.name)
	}
	return -1, ""
}

func tagProblem(s string, skip func(string) bool) int { off, _ := tagScan(s, skip); return off }

// htmlProblem checks a rendered HTML part.
func htmlProblem(s string) (int, string) { return tagScan(s, htmlVoid) }

// lineCol turns a byte offset of src into a line and a byte column, both
// from 1; an offset < 0 gives 0, 0 (the part as a whole).
func lineCol(src string, off int) (line, col int) {
	if off < 0 || off > len(src) {
		return 0, 0
	}
	nl := strings.LastIndexByte(src[:off], '\n')
	return 1 + strings.Count(src[:off], "\n"), off - nl
}
