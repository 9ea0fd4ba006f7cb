package classify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkClassify measures the classifier on the held-out split (accuracy,
// confusion matrix, negative replies classified positive) and its cost per
// reply, and writes bench/results/classify.json (make bench).
func BenchmarkClassify(b *testing.B) {
	_, held := Split(corpus(b))
	c := New(nil)
	r := c.Evaluate(held)
	confusion := map[string]map[string]int{}
	for l, row := range r.Confusion {
		confusion[string(l)] = map[string]int{}
		for p, n := range row {
			confusion[string(l)][string(p)] = n
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		c.Classify(Input{Text: held[n%len(held)].Text})
		n++
	}
	b.StopTimer()
	nsPerReply := float64(b.Elapsed().Nanoseconds()) / float64(n)
	b.ReportMetric(r.Accuracy, "accuracy")
	b.ReportMetric(nsPerReply, "ns/reply")
	out, err := json.MarshalIndent(map[string]any{
		"name":                           "classify",
		"at":                             time.Now().UTC().Format(time.RFC3339),
		"go":                             runtime.Version(),
		"cpus":                           runtime.NumCPU(),
		"held_out_replies":               r.Total,
		"accuracy":                       r.Accuracy,
		"target_accuracy":                0.95,
		"confusion":                      confusion,
		"confusion_note":                 "rows: label, columns: predicted",
		"negative_as_positive":           r.NegativeAsPositive,
		"target_negative_as_positive":    0.01,
		"confident_negative_as_positive": r.ConfidentNegAsPositive,
		"unsure":                         r.Unsure,
		"ns_per_reply":                   nsPerReply,
	}, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join("..", "bench", "results")
	if err := os.WriteFile(filepath.Join(dir, "classify.json"), append(out, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
}
