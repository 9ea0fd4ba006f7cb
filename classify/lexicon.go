package classify

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

//go:embed lexicon.txt
var defaultLexicon string

// Lexicon is a parsed sentiment lexicon.
type Lexicon struct {
	words    map[string]float64 // exact word → weight
	stems    []stem             // prefix → weight, longest first
	phrases  []phrase           // multi-word terms, longest first
	negators map[string]float64 // single-word negators → own weight when they negate nothing
	negPhr   []phrase           // multi-word negators
	contrast map[string]bool
}

type stem struct {
	prefix string
	weight float64
}

type phrase struct {
	words  []string // each may end in * (prefix)
	weight float64
	text   string
}

// DefaultLexicon returns the built-in Russian and English lexicon.
func DefaultLexicon() *Lexicon {
	l, err := ParseLexicon(strings.NewReader(defaultLexicon), "lexicon.txt", nil)
	if err != nil {
		panic("classify: built-in lexicon: " + err.Error()) // a build defect, caught by tests
	}
	return l
}

// LexiconError names the line of a bad lexicon entry.
type LexiconError struct {
	File string
	Line int
	Msg  string
}

func (e *LexiconError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseLexicon reads entries from r on top of base (nil: an empty lexicon).
// Later entries override earlier ones.
func ParseLexicon(r io.Reader, name string, base *Lexicon) (*Lexicon, error) {
	l := base.clone()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, term, ok := strings.Cut(line, " ")
		term = normalize(strings.TrimSpace(term))
		if !ok || term == "" {
			return nil, &LexiconError{name, n, fmt.Sprintf("want an operator (+ ++ - -- = ! !- !+ ~) and a term, got %q", line)}
		}
		words := strings.Fields(term)
		switch op {
		case "+", "++", "-", "--", "=":
			w := map[string]float64{"+": 1, "++": 2, "-": -1, "--": -2, "=": 0}[op]
			l.add(words, w)
		case "!", "!-", "!+":
			w := map[string]float64{"!": 0, "!-": -1, "!+": 1}[op]
			if len(words) == 1 {
				l.negators[words[0]] = w
			} else {
				l.negPhr = append(l.negPhr, phrase{words: words, weight: w, text: term})
			}
		case "~":
			if len(words) != 1 {
				return nil, &LexiconError{name, n, "a contrast word must be a single word"}
			}
			l.contrast[words[0]] = true
		default:
			return nil, &LexiconError{name, n, fmt.Sprintf("unknown operator %q (use + ++ - -- = ! !- !+ ~)", op)}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &LexiconError{name, n + 1, err.Error()}
	}
	l.sort()
	return l, nil
}

func (l *Lexicon) clone() *Lexicon {
	c := &Lexicon{words: map[string]float64{}, negators: map[string]float64{}, contrast: map[string]bool{}}
	if l == nil {
		return c
	}
	for k, v := range l.words {
		c.words[k] = v
	}
	for k, v := range l.negators {
		c.negators[k] = v
	}
	for k, v := range l.contrast {
		c.contrast[k] = v
	}
	c.stems = append(c.stems, l.stems...)
	c.phrases = append(c.phrases, l.phrases...)
	c.negPhr = append(c.negPhr, l.negPhr...)
	return c
}

func (l *Lexicon) add(words []string, w float64) {
	if len(words) > 1 {
		for i, p := range l.phrases {
			if p.text == strings.Join(words, " ") {
				l.phrases[i].weight = w
				return
			}
		}
		l.phrases = append(l.phrases, phrase{words: words, weight: w, text: strings.Join(words, " ")})
		return
	}
	t := words[0]
	if strings.HasSuffix(t, "*") && len(t) > 1 {
		p := strings.TrimSuffix(t, "*")
		for i, s := range l.stems {
			if s.prefix == p {
				l.stems[i].weight = w
				return
			}
		}
		l.stems = append(l.stems, stem{p, w})
		return
	}
	l.words[t] = w
}

func (l *Lexicon) sort() {
	sort.SliceStable(l.stems, func(i, j int) bool { return len(l.stems[i].prefix) > len(l.stems[j].prefix) })
	sort.SliceStable(l.phrases, func(i, j int) bool { return len(l.phrases[i].words) > len(l.phrases[j].words) })
	sort.SliceStable(l.negPhr, func(i, j int) bool { return len(l.negPhr[i].words) > len(l.negPhr[j].words) })
}

// lookup returns the weight of a single token and whether the lexicon knows it.
// Exact words win over stems; the longest stem wins.
func (l *Lexicon) lookup(tok string) (float64, bool) {
	if w, ok := l.words[tok]; ok {
		return w, true
	}
	for _, s := range l.stems {
		if strings.HasPrefix(tok, s.prefix) {
			return s.weight, true
		}
	}
	return 0, false
}

func matchWord(pattern, tok string) bool {
	if strings.HasSuffix(pattern, "*") {
		return strings.HasPrefix(tok, strings.TrimSuffix(pattern, "*"))
	}
	return pattern == tok
}

// matchPhrase reports how many tokens from i a phrase of ps covers.
func matchPhrase(ps []phrase, toks []token, i int) (phrase, bool) {
	for _, p := range ps {
		if i+len(p.words) > len(toks) {
			continue
		}
		ok := true
		for k, w := range p.words {
			if toks[i+k].clauseBreak || !matchWord(w, toks[i+k].text) {
				ok = false
				break
			}
		}
		if ok {
			return p, true
		}
	}
	return phrase{}, false
}

// LexiconFile returns the default lexicon extended by the file at path (an
// install's NUDGE_LEXICON_FILE); an empty path is the default lexicon.
func LexiconFile(path string) (*Lexicon, error) {
	lex := DefaultLexicon()
	if path == "" {
		return lex, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseLexicon(f, path, lex)
}
