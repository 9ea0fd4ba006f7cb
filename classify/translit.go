package classify

import "strings"

// Russian typed in Latin letters ("ne ponravilos", "vse ok") is read as
// Cyrillic word by word, but only where the Cyrillic reading is a Russian
// word the lexicon knows and the Latin one is not an English word it knows:
// "net" and "ne" become "нет" and "не", "good" stays "good".

// translitWords are Russian words that carry no sentiment of their own but
// matter to the classifier (negators, "all", "very").
var translitWords = map[string]string{
	"ne": "не", "net": "нет", "ni": "ни", "nichego": "ничего", "da": "да",
	"vse": "все", "vsyo": "все", "vsio": "все", "vso": "все", "ochen": "очень", "oche": "очень",
	"sovsem": "совсем", "vobshe": "вообще", "voobshe": "вообще", "voobshche": "вообще",
	"spasibo": "спасибо", "sps": "спс", "norm": "норм", "normalno": "нормально", "nu": "ну",
	"tak": "так", "sebe": "себе", "bylo": "было", "bilo": "было", "eda": "еда",
}

// translitPairs are tried longest first at each position.
var translitPairs = []struct{ lat, cyr string }{
	{"shch", "щ"}, {"sch", "щ"}, {"zh", "ж"}, {"kh", "х"}, {"ch", "ч"}, {"sh", "ш"},
	{"ts", "ц"}, {"yu", "ю"}, {"ya", "я"}, {"yo", "е"}, {"ye", "е"}, {"iy", "ий"},
	{"a", "а"}, {"b", "б"}, {"v", "в"}, {"w", "в"}, {"g", "г"}, {"d", "д"}, {"e", "е"},
	{"z", "з"}, {"i", "и"}, {"j", "й"}, {"y", "ы"}, {"k", "к"}, {"q", "к"}, {"l", "л"},
	{"m", "м"}, {"n", "н"}, {"o", "о"}, {"p", "п"}, {"r", "р"}, {"s", "с"}, {"t", "т"},
	{"u", "у"}, {"f", "ф"}, {"h", "х"}, {"c", "ц"}, {"x", "кс"}, {"'", "ь"},
}

// latinWord reports whether s is all ASCII letters (and apostrophes).
func latinWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '\'') {
			return false
		}
	}
	return true
}

// toCyrillic spells a Latin word in Cyrillic letters.
func toCyrillic(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := false
		for _, p := range translitPairs {
			if strings.HasPrefix(s[i:], p.lat) {
				b.WriteString(p.cyr)
				i += len(p.lat)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// knows reports whether the lexicon has an entry for a single word.
func (l *Lexicon) knows(w string) bool {
	if _, ok := l.negators[w]; ok {
		return true
	}
	if l.contrast[w] {
		return true
	}
	if _, ok := l.lookup(w); ok {
		return true
	}
	for _, p := range l.phrases {
		if matchWord(p.words[0], w) {
			return true
		}
	}
	return false
}

// tokens tokenizes text and reads transliterated Russian words as Cyrillic.
func (l *Lexicon) tokens(text string) []token {
	toks := tokenize(text)
	for i, t := range toks {
		if !latinWord(t.text) || l.knows(t.text) {
			continue
		}
		if c, ok := translitWords[t.text]; ok {
			toks[i].text = c
			continue
		}
		if len(t.text) < 4 {
			continue
		}
		if c := toCyrillic(t.text); l.knowsRussian(c) {
			toks[i].text = c
		}
	}
	return toks
}

// knowsRussian is knows for a Cyrillic word; a stem entry must cover most of
// the word, so a short stem does not claim a long transliteration by chance.
func (l *Lexicon) knowsRussian(w string) bool {
	if _, ok := l.words[w]; ok {
		return true
	}
	for _, s := range l.stems {
		if strings.HasPrefix(w, s.prefix) && len([]rune(s.prefix)) >= 4 {
			return true
		}
	}
	return false
}
