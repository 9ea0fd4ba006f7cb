package classify

import (
	"fmt"
	"strconv"
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

// negationScope is how many plain words after a negator it reaches: enough
// for "никак не могу сказать, что понравилось" without the comma.
const negationScope = 5

type token struct {
	text        string
	clauseBreak bool // a punctuation mark that ends a clause
	quoted      bool // inside quotation marks
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
	quoted := false
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, token{text: strings.Trim(cur.String(), "'"), quoted: quoted})
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
		case r == '"' || r == '«' || r == '»' || r == '“' || r == '”':
			flush()
			quoted = r != '»' && r != '”' && (r == '«' || r == '“' || !quoted)
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

// Score is the outcome of the lexicon.
type Score struct {
	Sentiment Sentiment
	Value     float64
	// Terms lists what the decision rests on, e.g. `понравилось(+1) negated by "не"`.
	Terms []string
	// Rating says the reply is a score and nothing else ("5", "на 5",
	// "8/10", "4 из 5"): an explicit answer, which the model does not
	// second-guess.
	Rating bool
}

// Sentiment scores text with the lexicon alone.
func (l *Lexicon) Sentiment(text string) Score {
	sc, _ := l.analyze(l.tokens(text))
	return sc
}

// analyze scores toks and reports which tokens a negation covers. Polar terms
// add their weight; a negator flips the polar terms after it until its clause
// ends (a comma, a contrast word) or negationScope plain words pass. Negators
// next to each other are one negation ("ничего не понравилось"); a second
// negator after other words cancels the first ("не могу не похвалить",
// "can't say I didn't like it"). A clause after a contrast word ("но", "but")
// and the last clause of several weigh 1.5.
func (l *Lexicon) analyze(toks []token) (Score, []bool) {
	if sc, ok := rating(toks); ok {
		return sc, make([]bool, len(toks))
	}
	var (
		sc        Score
		negated   = make([]bool, len(toks))
		negator   string  // active negator text
		negWeight float64 // its own weight if it ends up negating nothing
		negLeft   int     // plain words left in its scope
		since     int     // words since the last negator
		followOn  bool    // the negation is a phrase's ("не очень"): it flips only praise
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
		negator, negWeight, negLeft, followOn = "", 0, 0, false
	}
	startNegation := func(text string, w float64) {
		// Russian negative pronouns agree with "не" ("ни капли не", "никак не"):
		// one negation. Elsewhere a second negator after other words cancels.
		if negator != "" && since > 0 && !followOn && !strings.HasPrefix(negator, "ни") {
			// A second negation after other words: the two cancel.
			sc.Terms = append(sc.Terms, fmt.Sprintf("%q cancels %q", text, negator))
			negator, negWeight, negLeft = "", 0, 0
			return
		}
		if negator == "" || followOn {
			negator, negWeight = text, w
		}
		negLeft, since, followOn = negationScope, 0, false
	}
	polar := func(term string, w float64, from, to int, quoted bool) {
		if quoted && w > 0 && negator == "" {
			// Praise in quotes is sarcasm: «вкусно», "fresh".
			for k := from; k < to; k++ {
				negated[k] = true
			}
			sc.Value -= w * boost
			sc.Terms = append(sc.Terms, fmt.Sprintf("%s(%+g) in quotes", term, w))
			return
		}
		if _, ok := l.negators[toks[from].text]; ok && to-from > 1 && negator != "" && (since == 0 || strings.HasPrefix(negator, "ни")) {
			// "ничего не понравилось": the phrase's negator agrees with the one before.
			negator, negWeight, negLeft = "", 0, 0
		}
		if followOn && w < 0 {
			negator, negWeight, negLeft, followOn = "", 0, 0, false
		}
		if w == 0 { // a neutral term: it only uses up the scope
			if negator != "" {
				negLeft--
				since++
			}
			return
		}
		if negator != "" {
			for k := from; k < to; k++ {
				negated[k] = true
			}
			sc.Value += -w * boost
			sc.Terms = append(sc.Terms, fmt.Sprintf("%s(%+g) negated by %q", term, w, negator))
			negator, negWeight, negLeft = "", 0, 0
			return
		}
		sc.Value += w * boost
		sc.Terms = append(sc.Terms, fmt.Sprintf("%s(%+g)", term, w*boost))
		// A negative phrase led by a negator ("не очень", "not really") also
		// negates the term right after it: "не очень вкусно".
		if w < 0 && to-from > 1 {
			if _, ok := l.negators[toks[from].text]; ok {
				negator, negWeight, negLeft, since, followOn = toks[from].text, 0, 1, 0, true
			}
		}
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
		// Polar phrases first (they may contain a negator: "не очень", "no complaints").
		if p, ok := matchPhrase(l.phrases, toks, i); ok {
			polar(p.text, p.weight, i, i+len(p.words), t.quoted)
			i += len(p.words) - 1
			continue
		}
		if p, ok := matchPhrase(l.negPhr, toks, i); ok {
			startNegation(p.text, p.weight)
			i += len(p.words) - 1
			continue
		}
		if w, ok := l.negators[t.text]; ok {
			startNegation(t.text, w)
			continue
		}
		if w, ok := l.lookup(t.text); ok {
			polar(t.text, w, i, i+1, t.quoted)
			continue
		}
		if negator != "" {
			negated[i] = true
			since++
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
	return sc, negated
}

// keywordSentiment is the sentiment a branch keyword carries of its own. A
// number is an option's label there ("1" for the first choice), not a
// score, so it carries none.
func (l *Lexicon) keywordSentiment(kw string) Sentiment {
	if sc := l.Sentiment(kw); !sc.Rating {
		return sc.Sentiment
	}
	return Neutral
}

// rating reads a reply that is only a score: "5", "5+", "на 5", "4 из 5",
// "8/10", "10 из 10 баллов", "пять из пяти", "на пятерку", "five out of
// five". A bare number or grade is out of 5 (the school grade and the
// usual star scale), so only 1 to 5 count alone. Four fifths and more is
// praise, two fifths and less a complaint, between them neutral.
func rating(toks []token) (Score, bool) {
	if len(toks) > 8 { // a score is a few words at most; most replies are longer
		return Score{}, false
	}
	var words []string
	for i, t := range toks {
		switch {
		case t.clauseBreak, ratingUnit[t.text]:
		case t.text == "out" && i+1 < len(toks) && toks[i+1].text == "of":
		default:
			words = append(words, t.text)
		}
	}
	if len(words) > 0 && (words[0] == "на" || words[0] == "оценка" || words[0] == "ставлю") {
		words = words[1:]
	}
	num := func(w string) (int, bool) {
		if n, ok := ratingWords[w]; ok {
			return n, true
		}
		if len(w) == 0 || len(w) > 3 || strings.Trim(w, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.Atoi(w)
		return n, err == nil
	}
	var got, of int
	switch {
	case len(words) == 1:
		n, ok := num(words[0])
		if !ok || n < 1 || n > 5 {
			return Score{}, false
		}
		got, of = n, 5
	case len(words) == 2 || (len(words) == 3 && (words[1] == "из" || words[1] == "of")):
		n, ok1 := num(words[0])
		m, ok2 := num(words[len(words)-1])
		if !ok1 || !ok2 || m < 2 || n > m {
			return Score{}, false
		}
		got, of = n, m
	default:
		return Score{}, false
	}
	sc := Score{Rating: true, Sentiment: Neutral}
	switch r := float64(got) / float64(of); {
	case r >= 0.8:
		sc.Sentiment, sc.Value = Positive, 1
	case r <= 0.4:
		sc.Sentiment, sc.Value = Negative, -1
	}
	sc.Terms = []string{fmt.Sprintf("rating %d/%d(%+g)", got, of, sc.Value)}
	return sc, true
}

// ratingWords are numbers and school grades in words (ё is read as е).
var ratingWords = map[string]int{
	"один": 1, "два": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10, "сто": 100,
	"двух": 2, "трех": 3, "четырех": 4, "пяти": 5, "шести": 6, "семи": 7, "восьми": 8, "девяти": 9, "десяти": 10, "ста": 100,
	"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
	"кол": 1, "единица": 1, "единицу": 1, "двойка": 2, "двойку": 2, "тройка": 3, "тройку": 3, "троечка": 3, "троечку": 3,
	"четверка": 4, "четверку": 4, "четверочка": 4, "четверочку": 4, "пятерка": 5, "пятерку": 5, "пятерочка": 5, "пятерочку": 5,
}

// ratingUnit are the words a score may end with.
var ratingUnit = map[string]bool{
	"балл": true, "балла": true, "баллов": true, "баллы": true,
	"звезда": true, "звезды": true, "звезд": true, "звездочки": true, "звездочек": true,
	"star": true, "stars": true, "points": true, "⭐": true,
}
