package classify

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
)

// Example is a labelled reply.
type Example struct {
	Line  int
	Label Sentiment
	Text  string
}

// ReadExamples reads "label<TAB>reply" lines; blank lines and lines starting
// with # are skipped. name is used in errors.
func ReadExamples(r io.Reader, name string) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		label, text, ok := strings.Cut(line, "\t")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want label<TAB>reply, got %q", name, n, line)
		}
		s := Sentiment(strings.ToLower(strings.TrimSpace(label)))
		if classIndex(s) < 0 {
			return nil, fmt.Errorf("%s:%d: label %q is not positive, negative or neutral", name, n, label)
		}
		out = append(out, Example{Line: n, Label: s, Text: text})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return out, nil
}

// HeldOut reports whether a reply belongs to the held-out split: a stable
// hash of its normalised text, so the split never changes when the corpus
// grows and no reply moves between the two. About a quarter is held out.
func HeldOut(text string) bool {
	h := fnv.New32a()
	h.Write([]byte(strings.TrimSpace(normalize(text))))
	return h.Sum32()%4 == 0
}

// Split divides examples into the training split and the held-out split.
func Split(examples []Example) (train, heldOut []Example) {
	for _, e := range examples {
		if HeldOut(e.Text) {
			heldOut = append(heldOut, e)
		} else {
			train = append(train, e)
		}
	}
	return train, heldOut
}
