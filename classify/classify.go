package classify

import (
	"strings"

	"github.com/nudge-engine/nudge/campaigns"
)

// Input is a reply and the branches of the step waiting for it.
type Input struct {
	Payload  string // button id, when a button was pressed
	Text     string
	Branches []campaigns.ReplyBranch
}

// Result says which branch a reply takes and why.
type Result struct {
	Sentiment Sentiment
	// Branch is the index of the matching branch, or -1 when none matches
	// (the flow's on_other path: usually the inbox).
	Branch int
	Goto   string
	// Rule is what decided: "button", "keyword", "sentiment" or "none".
	Rule string
	// Detail is the evidence: the payload, the keyword, or the sentiment terms.
	Detail string
	Score  float64
}

// Classifier classifies replies with a lexicon.
type Classifier struct {
	lex *Lexicon
}

// New returns a classifier; nil lex means DefaultLexicon.
func New(lex *Lexicon) *Classifier {
	if lex == nil {
		lex = DefaultLexicon()
	}
	return &Classifier{lex: lex}
}

// Classify applies, in order: the button payload, the branches' keyword lists
// (whole words, case-insensitive, ё = е), then the sentiment classifier.
func (c *Classifier) Classify(in Input) Result {
	sc := c.lex.Sentiment(in.Text)
	res := Result{Sentiment: sc.Sentiment, Score: sc.Value, Branch: -1}
	if in.Payload != "" {
		res.Rule, res.Detail = "button", in.Payload
		for i, b := range in.Branches {
			if b.Button != "" && b.Button == in.Payload {
				res.Branch, res.Goto = i, b.Goto
				return res
			}
		}
		return res
	}
	toks := tokenize(in.Text)
	for i, b := range in.Branches {
		for _, kw := range b.Keywords {
			if containsWords(toks, kw) {
				res.Branch, res.Goto, res.Rule, res.Detail = i, b.Goto, "keyword", kw
				return res
			}
		}
	}
	res.Rule, res.Detail = "sentiment", strings.Join(sc.Terms, ", ")
	for i, b := range in.Branches {
		if b.Sentiment != "" && Sentiment(b.Sentiment) == sc.Sentiment {
			res.Branch, res.Goto = i, b.Goto
			return res
		}
	}
	if res.Detail == "" {
		res.Rule = "none"
	}
	return res
}

// containsWords reports whether the keyword's words occur consecutively in toks.
func containsWords(toks []token, kw string) bool {
	want := tokenize(kw)
	if len(want) == 0 {
		return false
	}
	for i := 0; i+len(want) <= len(toks); i++ {
		ok := true
		for k := range want {
			if toks[i+k].clauseBreak || toks[i+k].text != want[k].text {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
