package classify

import (
	"fmt"
	"io"
	"strings"
)

// Report is how a classifier did on a labelled set.
type Report struct {
	Total    int     `json:"total"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	// Confusion counts replies by true label, then by predicted label.
	Confusion map[Sentiment]map[Sentiment]int `json:"confusion"`
	// NegativeAsPositive is the share of negative replies classified positive:
	// unhappy customers who would be sent the menu.
	NegativeAsPositive float64 `json:"negative_as_positive"`
	// Unsure counts replies below the confidence threshold (they take a
	// step's on_unsure path); UnsureNegativeAsPositive is NegativeAsPositive
	// counting only confident predictions, as routing does.
	Unsure                 int         `json:"unsure"`
	ConfidentNegAsPositive float64     `json:"confident_negative_as_positive"`
	Errors                 []Example   `json:"-"` // misclassified, with the predicted label
	Predicted              []Sentiment `json:"-"`
}

// Evaluate classifies every example's text and compares it with its label.
func (c *Classifier) Evaluate(examples []Example) Report {
	r := Report{Confusion: map[Sentiment]map[Sentiment]int{}}
	for _, s := range classes {
		r.Confusion[s] = map[Sentiment]int{}
	}
	neg, negPos, negPosSure := 0, 0, 0
	for _, e := range examples {
		p := c.Sentiment(e.Text)
		r.Total++
		r.Confusion[e.Label][p.Sentiment]++
		if p.Unsure {
			r.Unsure++
		}
		if p.Sentiment == e.Label {
			r.Correct++
		} else {
			r.Errors = append(r.Errors, e)
			r.Predicted = append(r.Predicted, p.Sentiment)
		}
		if e.Label == Negative {
			neg++
			if p.Sentiment == Positive {
				negPos++
				if !p.Unsure {
					negPosSure++
				}
			}
		}
	}
	if r.Total > 0 {
		r.Accuracy = float64(r.Correct) / float64(r.Total)
	}
	if neg > 0 {
		r.NegativeAsPositive = float64(negPos) / float64(neg)
		r.ConfidentNegAsPositive = float64(negPosSure) / float64(neg)
	}
	return r
}

// Write prints the accuracy and the confusion matrix.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "accuracy\t%.4f\t%d/%d\n", r.Accuracy, r.Correct, r.Total)
	fmt.Fprintf(w, "negative_as_positive\t%.4f\n", r.NegativeAsPositive)
	fmt.Fprintf(w, "unsure\t%d\n", r.Unsure)
	fmt.Fprintf(w, "confusion (rows: label, columns: predicted)\n")
	var b strings.Builder
	b.WriteString("label")
	for _, s := range classes {
		b.WriteString("\t" + string(s))
	}
	fmt.Fprintln(w, b.String())
	for _, l := range classes {
		b.Reset()
		b.WriteString(string(l))
		for _, p := range classes {
			fmt.Fprintf(&b, "\t%d", r.Confusion[l][p])
		}
		fmt.Fprintln(w, b.String())
	}
}
