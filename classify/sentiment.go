package classify

import (
	"fmt"
	"strings"
	"unicode"
)

// Sentiment is the polarity of a reply.
type Sentiment string

const (
	Positive Sentiment = "positive"
	Negative Sentiment = "negative"
	Neutral  Sentiment = "neutral"
)

// negationScope is how many words after a negator it can flip.
const negationScope = 3

type token struct {
	text        string
	clauseBreak bool // a punctuation mark that ends a clause
}

// normalize lower-cases, reads ё as е and drops emoji variation selectors.
func normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case 'ё':
			r = 'е'
		case '’', '`':
			r = '\''
		case '\ufe0f', '\u200d':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isEmoji(r rune) bool {
	return unicode.Is(unicode.So, r) || unicode.Is(unicode.Sk, r) || (r >= 0x1F000 && r <= 0x1FAFF) || (r >= 0x2600 && r <= 0x27BF)
}

// tokenize splits text into words, single emoji and clause breaks.
func tokenize(s string) []token {
	var toks []token
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, token{text: strings.Trim(cur.String(), "'")})
			cur.Reset()
		}
	}
	for _, r := range normalize(s) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || (r == '\'' && cur.Len() > 0):
			cur.WriteRune(r)
		case isEmoji(r):
			flush()
			toks = append(toks, token{text: string(r)})
		case strings.ContainsRune(",.!?;:()—–\n", r):
			flush()
			if len(toks) > 0 && !toks[len(toks)-1].clauseBreak {
				toks = append(toks, token{clauseBreak: true})
			}
		default: // spaces, hyphens, quotes
			flush()
		}
	}
	flush()
	return toks
}

// Score is the outcome of the sentiment classifier.
type Score struct {
	Sentiment Sentiment
	Value     float64
	// Terms lists what the decision rests on, e.g. `понравилось(+1) negated by "не"`.
	Terms []string
}

// Sentiment classifies text. Polar terms add their weight; a negator flips the
// next polar term within a few words of its clause (several negators in a row
// are one negation, as in Russian "ничего не понравилось"); a clause after a
// contrast word ("но", "but") and the last clause of several weigh 1.5.
func (l *Lexicon) Sentiment(text string) Score {
	toks := tokenize(text)
	var (
		sc        Score
		negator   string  // active negator text
		negWeight float64 // its own weight if it ends up negating nothing
		negLeft   int     // words left in its scope
		clause    = 0
		boost     = 1.0
	)
	clauses := 1
	for _, t := range toks {
		if t.clauseBreak {
			clauses++
		}
	}
	endNegation := func() {
		if negator != "" && negWeight != 0 {
			sc.Value += negWeight * boost
			sc.Terms = append(sc.Terms, fmt.Sprintf("%s(%+g)", negator, negWeight*boost))
		}
		negator, negWeight, negLeft = "", 0, 0
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.clauseBreak {
			endNegation()
			clause++
			if clause == clauses-1 && clauses > 1 && boost < 1.5 {
				boost = 1.5
			}
			continue
		}
		if l.contrast[t.text] {
			endNegation()
			boost = 1.5
			continue
		}
		// Polar phrases first (they may contain a negator: "не очень", "couldn't be happier").
		if p, ok := matchPhrase(l.phrases, toks, i); ok {
			l.apply(&sc, p.text, p.weight, &negator, &negWeight, &negLeft, boost)
			i += len(p.words) - 1
			continue
		}
		if p, ok := matchPhrase(l.negPhr, toks, i); ok {
			if negator == "" {
				negator, negWeight = p.text, p.weight
			}
			negLeft = negationScope
			i += len(p.words) - 1
			continue
		}
		if w, ok := l.negators[t.text]; ok {
			if negator == "" {
				negator, negWeight = t.text, w
			}
			negLeft = negationScope
			continue
		}
		if w, ok := l.lookup(t.text); ok {
			l.apply(&sc, t.text, w, &negator, &negWeight, &negLeft, boost)
			continue
		}
		if negator != "" {
			negLeft--
			if negLeft <= 0 {
				endNegation()
			}
		}
	}
	endNegation()
	switch {
	case sc.Value > 0.01:
		sc.Sentiment = Positive
	case sc.Value < -0.01:
		sc.Sentiment = Negative
	default:
		sc.Sentiment = Neutral
	}
	return sc
}

func (l *Lexicon) apply(sc *Score, term string, w float64, negator *string, negWeight *float64, negLeft *int, boost float64) {
	if w == 0 { // a neutral term: it only consumes words
		if *negator != "" {
			*negLeft--
		}
		return
	}
	if *negator != "" {
		sc.Value += -w * boost
		sc.Terms = append(sc.Terms, fmt.Sprintf("%s(%+g) negated by %q", term, w, *negator))
		*negator, *negWeight, *negLeft = "", 0, 0
		return
	}
	sc.Value += w * boost
	sc.Terms = append(sc.Terms, fmt.Sprintf("%s(%+g)", term, w*boost))
}
