package classify

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nudge-engine/nudge/campaigns"
)

// The model is trained from the training split of testdata/corpus.tsv with
// the default lexicon's features; see internal/train.
//
//go:generate go run ./internal/train -corpus testdata/corpus.tsv -out model.bin
//go:embed model.bin
var modelBin []byte

var defaultModel = sync.OnceValues(func() (*Model, error) {
	m := &Model{}
	if err := m.UnmarshalBinary(modelBin); err != nil {
		return nil, err
	}
	return m, nil
})

// DefaultMinConfidence is the probability below which a sentiment is unsure:
// sentiment branches do not take the reply, the step's on_unsure does.
const DefaultMinConfidence = 0.6

// Input is a reply and the branches of the step waiting for it.
type Input struct {
	Payload  string // button id, when a button was pressed
	Text     string
	Branches []campaigns.ReplyBranch
}

// Result says which branch a reply takes and why.
type Result struct {
	Sentiment Sentiment
	// Confidence is the model's probability of Sentiment; Unsure is true
	// when it is below the classifier's threshold.
	Confidence float64
	Unsure     bool
	// Branch is the index of the matching branch, or -1 when none matches.
	Branch int
	// Goto is the step the reply leads to. From Classify: the matching
	// branch's goto. From Route: the step the run goes to, "" for a hand-off
	// to the inbox.
	Goto string
	// Rule is what decided: "button", "keyword", "sentiment", "unsure"
	// (a sentiment below the threshold) or "other" (Route: no branch took
	// the reply, so on_other did).
	Rule string
	// Detail is the evidence: the payload, the keyword, or the lexicon terms.
	Detail string
	Score  float64 // the lexicon's score
}

// Classifier classifies replies: a logistic-regression model over words,
// character n-grams and the lexicon's negation-aware reading.
type Classifier struct {
	lex   *Lexicon
	model *Model
	// MinConfidence is the unsure threshold (default DefaultMinConfidence).
	MinConfidence float64
}

// New returns a classifier with the embedded model; nil lex means
// DefaultLexicon. An extended lexicon changes the model's lexicon features
// (lex:positive, …), which is how an install teaches it its own words.
func New(lex *Lexicon) *Classifier {
	c, err := Load(lex)
	if err != nil {
		panic(err.Error() + ": a build defect, caught by TestEmbeddedModel")
	}
	return c
}

// Load is New that returns an error for a broken embedded model.
func Load(lex *Lexicon) (*Classifier, error) {
	if lex == nil {
		lex = DefaultLexicon()
	}
	m, err := defaultModel()
	if err != nil {
		return nil, err
	}
	return &Classifier{lex: lex, model: m, MinConfidence: DefaultMinConfidence}, nil
}

// WithModel returns a classifier with a model of one's own (training tools,
// tests); nil lex means DefaultLexicon.
func WithModel(lex *Lexicon, m *Model) *Classifier {
	if lex == nil {
		lex = DefaultLexicon()
	}
	return &Classifier{lex: lex, model: m, MinConfidence: DefaultMinConfidence}
}

// Prediction is the sentiment of a text.
type Prediction struct {
	Sentiment  Sentiment
	Confidence float64
	Unsure     bool
	Lexicon    Score // the lexicon's reading; its terms explain the decision
}

// Sentiment classifies a text.
func (c *Classifier) Sentiment(text string) Prediction {
	fs, sc := c.lex.features(text)
	if sc.Rating {
		return Prediction{Sentiment: sc.Sentiment, Confidence: 1, Lexicon: sc}
	}
	p := c.model.predict(fs)
	best := 0
	for k := range p {
		if p[k] > p[best] {
			best = k
		}
	}
	min := c.MinConfidence
	if min == 0 {
		min = DefaultMinConfidence
	}
	return Prediction{Sentiment: classes[best], Confidence: p[best], Unsure: p[best] < min, Lexicon: sc}
}

// Classify applies, in order: the button payload, the branches' keyword lists
// (whole words, case-insensitive, ё = е, never inside a negation, and a
// keyword with a sentiment of its own only when the reply means the same),
// then the sentiment branches when the sentiment is sure.
func (c *Classifier) Classify(in Input) Result {
	text := in.Text
	if strings.TrimSpace(text) == "" && in.Payload != "" {
		// A bare button press: its id often says it ("like", "dislike", "yes").
		text = strings.NewReplacer("_", " ", "-", " ").Replace(in.Payload)
	}
	p := c.Sentiment(text)
	res := Result{Sentiment: p.Sentiment, Confidence: p.Confidence, Unsure: p.Unsure, Score: p.Lexicon.Value, Branch: -1}
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
	toks := c.lex.tokens(in.Text)
	_, negated := c.lex.analyze(toks)
	for i, b := range in.Branches {
		for _, kw := range b.Keywords {
			if c.keywordMatches(toks, negated, kw, p) {
				res.Branch, res.Goto, res.Rule, res.Detail = i, b.Goto, "keyword", kw
				return res
			}
		}
	}
	res.Detail = strings.Join(p.Lexicon.Terms, ", ")
	if p.Unsure {
		res.Rule = "unsure"
		res.Detail = fmt.Sprintf("%s %.2f < %.2f", p.Sentiment, p.Confidence, c.threshold())
		return res
	}
	res.Rule = "sentiment"
	if res.Detail == "" {
		res.Detail = "model" // words and n-grams the lexicon has no entry for
	}
	for i, b := range in.Branches {
		if b.Sentiment != "" && Sentiment(b.Sentiment) == p.Sentiment {
			res.Branch, res.Goto = i, b.Goto
			return res
		}
	}
	return res
}

func (c *Classifier) threshold() float64 {
	if c.MinConfidence == 0 {
		return DefaultMinConfidence
	}
	return c.MinConfidence
}

// keywordMatches reports whether kw occurs in the reply outside a negation,
// and, for a keyword with a sentiment of its own ("понравилось", "bad"),
// whether the reply is surely of that sentiment: "не понравилось" never
// matches "понравилось", and "no complaints, all great" does not match "no".
func (c *Classifier) keywordMatches(toks []token, negated []bool, kw string, p Prediction) bool {
	want := c.lex.tokens(kw)
	_, wantNeg := c.lex.analyze(want)
	if !containsWords(toks, negated, want, wantNeg) {
		return false
	}
	kwSent := c.lex.keywordSentiment(kw)
	if kwSent == Neutral {
		return true
	}
	return !p.Unsure && p.Sentiment == kwSent
}

// Route decides where a reply to a wait_reply step goes: Classify over its
// branches, then the step's on_unsure for an unsure sentiment, then its
// on_other. Result.Goto is the step the run goes to, "" for a hand-off to
// the inbox. The reply router and `nudge classify` both call it.
func (c *Classifier) Route(w *campaigns.WaitReplyStep, payload, text string) Result {
	if w == nil {
		return c.Classify(Input{Payload: payload, Text: text})
	}
	res := c.Classify(Input{Payload: payload, Text: text, Branches: w.Branches})
	if res.Branch >= 0 {
		return res
	}
	if res.Rule == "unsure" && w.OnUnsure != "" {
		res.Goto = w.OnUnsure
		if w.OnUnsure == campaigns.OnUnsureHandoff {
			res.Goto = ""
		}
		return res
	}
	res.Goto = w.OnOther
	if res.Rule != "unsure" {
		res.Rule = "other"
	}
	return res
}

// containsWords reports whether want occurs consecutively in toks within one
// clause, each word negated in the reply exactly when it is in the keyword:
// "понравилось" is not in "не понравилось", "не понравилось" is.
func containsWords(toks []token, negated []bool, want []token, wantNeg []bool) bool {
	if len(want) == 0 {
		return false
	}
	for i := 0; i+len(want) <= len(toks); i++ {
		ok := true
		for k := range want {
			if toks[i+k].clauseBreak || toks[i+k].text != want[k].text || negated[i+k] != wantNeg[k] {
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

// Overlaps reports keyword branches of a wait_reply step that go different
// ways, whose keywords share a word of sentiment and mean opposite things
// ("понравилось" → menu, "не понравилось" → care). Routing handles them (a
// keyword never matches inside a negation, and the reply's whole meaning
// decides), but the author should know that the plain word does not catch
// the negated phrase. It is campaigns.Linter's CheckReplies.
func (c *Classifier) Overlaps(w *campaigns.WaitReplyStep) []campaigns.VariantProblem {
	type kw struct {
		branch, i int
		text      string
		sent      Sentiment
		words     map[string]bool
	}
	var kws []kw
	for bi, b := range w.Branches {
		for ki, k := range b.Keywords {
			s := c.lex.keywordSentiment(k)
			if s == Neutral {
				continue
			}
			words := map[string]bool{}
			for _, t := range c.lex.tokens(k) {
				if _, ok := c.lex.lookup(t.text); ok {
					words[t.text] = true
				}
			}
			kws = append(kws, kw{bi, ki, k, s, words})
		}
	}
	var out []campaigns.VariantProblem
	for i, a := range kws {
		for _, b := range kws[i+1:] {
			if a.branch == b.branch || a.sent == b.sent || w.Branches[a.branch].Goto == w.Branches[b.branch].Goto {
				continue
			}
			for _, word := range slices.Sorted(maps.Keys(a.words)) {
				if b.words[word] {
					out = append(out, campaigns.VariantProblem{
						Path: fmt.Sprintf("branches[%d].keywords[%d]", b.branch, b.i),
						Msg: fmt.Sprintf("keyword %q (%s, goto %s) shares %q with keyword %q of branch %d (%s, goto %s)",
							b.text, b.sent, w.Branches[b.branch].Goto, word, a.text, a.branch, a.sent, w.Branches[a.branch].Goto),
						Hint: "a keyword never matches inside a negation and the reply's whole meaning decides; a sentiment branch often says it better",
					})
					break
				}
			}
		}
	}
	return out
}
