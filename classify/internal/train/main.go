// Command train fits the reply classifier's model to the training split of
// the labelled corpus and writes it for go:embed (go generate ./classify).
// The held-out split is never read here: it only measures the result.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nudge-engine/nudge/classify"
)

// opts are the training options; the defaults are what the embedded model uses.
var opts classify.TrainOptions

func main() {
	corpus := flag.String("corpus", "testdata/corpus.tsv", "labelled replies, label<TAB>text")
	out := flag.String("out", "model.bin", "where to write the model")
	flag.IntVar(&opts.Epochs, "epochs", 0, "training passes (0: the default)")
	flag.Float64Var(&opts.Rate, "rate", 0, "AdaGrad learning rate (0: the default)")
	flag.Float64Var(&opts.L2, "l2", 0, "L2 penalty (0: the default)")
	cv := flag.Int("cv", 0, "instead of training, report k-fold cross-validation on the training split (tuning aid)")
	flag.Parse()
	var err error
	if *cv > 1 {
		err = crossValidate(*corpus, *cv)
	} else {
		err = run(*corpus, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func trainingSplit(corpus string) (train []classify.Example, total int, err error) {
	f, err := os.Open(corpus)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	all, err := classify.ReadExamples(f, corpus)
	if err != nil {
		return nil, 0, err
	}
	train, _ = classify.Split(all)
	return train, len(all), nil
}

// crossValidate trains k models, each on all training folds but one, and
// reports how they do on the fold left out: the only figures to tune on.
func crossValidate(corpus string, k int) error {
	train, _, err := trainingSplit(corpus)
	if err != nil {
		return err
	}
	var errs []string
	right, total := 0, 0
	negPos, neg := 0, 0
	for fold := 0; fold < k; fold++ {
		var fit, test []classify.Example
		for i, e := range train {
			if i%k == fold {
				test = append(test, e)
			} else {
				fit = append(fit, e)
			}
		}
		m, err := classify.Train(fit, classify.DefaultLexicon(), opts)
		if err != nil {
			return err
		}
		c := classify.WithModel(classify.DefaultLexicon(), m)
		for _, e := range test {
			p := c.Sentiment(e.Text)
			total++
			if e.Label == classify.Negative {
				neg++
				if p.Sentiment == classify.Positive {
					negPos++
				}
			}
			if p.Sentiment == e.Label {
				right++
				continue
			}
			errs = append(errs, fmt.Sprintf("%d\t%s -> %s %.2f\t%s\t%v", e.Line, e.Label, p.Sentiment, p.Confidence, e.Text, p.Lexicon.Terms))
		}
	}
	for _, e := range errs {
		fmt.Println(e)
	}
	fmt.Printf("cv %d-fold: accuracy %.4f (%d/%d), negative->positive %d/%d\n", k, float64(right)/float64(total), right, total, negPos, neg)
	return nil
}

func run(corpus, out string) error {
	train, total, err := trainingSplit(corpus)
	if err != nil {
		return err
	}
	m, err := classify.Train(train, classify.DefaultLexicon(), opts)
	if err != nil {
		return err
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	fmt.Printf("train: %d training replies (of %d), %d weights, %d bytes -> %s\n", len(train), total, len(b)/16, len(b), out)
	return nil
}
