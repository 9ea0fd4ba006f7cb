package campaigns

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteReport prints each problem as "file:line:col: rule: message", then the
// offending source line with a caret under the column, then "hint: …" when
// there is one. sources maps a file path to its content.
func WriteReport(w io.Writer, errs []LintError, sources map[string][]byte) error {
	for _, e := range errs {
		rule := e.Rule
		if e.Severity == SeverityWarning {
			rule = "warning: " + rule
		}
		if _, err := fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", e.File, e.Line, e.Col, rule, oneLine(e.Msg)); err != nil {
			return err
		}
		if line, ok := sourceLine(sources[e.File], e.Line); ok {
			fmt.Fprintf(w, "    %s\n    %s^\n", line, caretPad(line, e.Col))
		}
		if e.Hint != "" {
			fmt.Fprintf(w, "    hint: %s\n", oneLine(e.Hint))
		}
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// sourceLine returns line n (1-based) with tabs expanded and control
// characters replaced, so the caret lines up in a terminal.
func sourceLine(src []byte, n int) (string, bool) {
	if n < 1 || len(src) == 0 {
		return "", false
	}
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return "", false
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	line := strings.TrimRight(string(bytes.ToValidUTF8(src, []byte("?"))), "\r")
	var b strings.Builder
	for _, r := range line {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r == 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), true
}

// caretPad is the run of spaces that puts a caret under column col (1-based,
// counted in characters as the YAML parser counts them).
func caretPad(line string, col int) string {
	if col < 1 {
		col = 1
	}
	if n := utf8.RuneCountInString(line); col > n+1 {
		col = n + 1
	}
	return strings.Repeat(" ", col-1)
}
