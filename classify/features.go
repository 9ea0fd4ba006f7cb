package classify

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode/utf8"
)

// featureBits is the size of the hashed feature space (2^featureBits).
const featureBits = 20

// feature is a hashed feature and its value.
type feature struct {
	id    uint32
	value float32
}

// features turns a reply into the model's input: words and word pairs,
// character n-grams of each word (so typos, endings and unseen inflections
// still share most of their grams), the lexicon's verdict, and the shape of
// the reply. A word inside a negation's scope (as the lexicon reads it) gets
// a "!" mark on its word and grams, so "не понравилось" and "понравилось"
// share nothing but their meaning's opposite. One function for training and
// classifying: the model sees at run time exactly what it was trained on.
func (l *Lexicon) features(text string) ([]feature, Score) {
	toks := l.tokens(text)
	sc, negated := l.analyze(toks)
	f := make([]feature, 0, 16+8*len(toks))
	add := func(name string, v float32) {
		h := fnv.New32a()
		h.Write([]byte(name))
		f = append(f, feature{h.Sum32() & (1<<featureBits - 1), v})
	}
	add("bias", 1)
	add("lex:"+string(sc.Sentiment), 1)
	switch v := sc.Value; {
	case v <= -2:
		add("lexv:--", 1)
	case v < 0:
		add("lexv:-", 1)
	case v >= 2:
		add("lexv:++", 1)
	case v > 0:
		add("lexv:+", 1)
	}
	for _, t := range sc.Terms {
		if strings.Contains(t, " negated by ") {
			add("lex:flip", 1)
		} else if strings.Contains(t, " cancels ") {
			add("lex:cancel", 1)
		}
	}
	if strings.Contains(text, "?") {
		add("shape:?", 1)
	}
	words := 0
	prev := "^"
	for i, t := range toks {
		if t.clauseBreak {
			prev = "|"
			continue
		}
		words++
		w := t.text
		if negated[i] {
			w = "!" + w
		}
		add("w:"+w, 1)
		add("b:"+prev+" "+w, 0.7)
		prev = w
		addGrams(w, add)
	}
	add("b:"+prev+" $", 0.7)
	add("len:"+lengthBucket(words), 1)
	return f, sc
}

// addGrams adds the 3- to 5-character grams of a word ("<word>"), each
// weighted 1/√n so a long word does not drown the rest of the reply.
func addGrams(w string, add func(string, float32)) {
	neg := strings.HasPrefix(w, "!")
	w = strings.TrimPrefix(w, "!")
	if utf8.RuneCountInString(w) < 2 {
		return
	}
	rs := []rune("<" + w + ">")
	prefix := "c:"
	if neg {
		prefix = "c:!"
	}
	n := 0
	for size := 3; size <= 5; size++ {
		for i := 0; i+size <= len(rs); i++ {
			n++
		}
	}
	v := float32(1 / math.Sqrt(float64(n)))
	for size := 3; size <= 5; size++ {
		for i := 0; i+size <= len(rs); i++ {
			add(prefix+string(rs[i:i+size]), v)
		}
	}
}

func lengthBucket(n int) string {
	switch {
	case n == 0:
		return "0"
	case n == 1:
		return "1"
	case n <= 3:
		return "2-3"
	case n <= 7:
		return "4-7"
	}
	return "8+"
}
