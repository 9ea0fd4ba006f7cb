package campaigns

import (
	"math"
	"reflect"
	"testing"
)

// splitBase is a clean campaign with a 70/30 split; each case edits it.
const splitBase = `id: c
name: C
topic: service
trigger:
  api: {}
settings:
  channels: [telegram]
steps:
  - id: ab
    split:
      variants:
        - {id: short, weight: 70, goto: s}
        - {id: long, weight: 30, goto: l}
  - id: s
    send: {template: t}
    next: done
  - id: l
    send: {template: t}
  - id: done
    end: {}
templates:
  t:
    telegram:
      ru: {text: hi}
`

func TestLintSplit(t *testing.T) {
	if errs := lintString(t, splitBase); len(errs) > 0 {
		t.Fatalf("split base has problems: %v", errs)
	}
	tests := []struct {
		name string
		edit [][2]string
		want []string
	}{
		{"zero weight", [][2]string{{"weight: 30", "weight: 0"}}, []string{"c.yaml:13:30: invalid-value"}},
		{"negative weight", [][2]string{{"weight: 70", "weight: -5"}}, []string{"c.yaml:12:31: invalid-value"}},
		{"weight not a number", [][2]string{{"weight: 30", "weight: half"}}, []string{"c.yaml:13:30: invalid-value"}},
		{"missing weight", [][2]string{{"weight: 30, ", ""}}, []string{"c.yaml:13:9: required-field"}},
		{"unknown target", [][2]string{{"goto: l}", "goto: lng}"}}, []string{"c.yaml:13:40: unknown-step", "c.yaml:17:9: unreachable-step"}},
		{"duplicate variant id", [][2]string{{"{id: long", "{id: short"}}, []string{"c.yaml:13:16: duplicate-id"}},
		{"bad variant id", [][2]string{{"{id: long", "{id: \"Long B\""}}, []string{"c.yaml:13:16: invalid-value"}},
		{"one variant", [][2]string{{"        - {id: long, weight: 30, goto: l}\n", ""}}, []string{"c.yaml:11:7: invalid-value", "c.yaml:16:9: unreachable-step"}},
		{"next on a split", [][2]string{{"  - id: ab\n", "  - id: ab\n    next: s\n"}}, []string{"c.yaml:10:11: invalid-value"}},
		{"misspelt key", [][2]string{{"goto: s}", "goto: s, wieght: 1}"}}, []string{"c.yaml:12:44: unknown-field"}},
		{"split and send in one step", [][2]string{{"  - id: ab\n", "  - id: ab\n    send: {template: t}\n"}}, []string{"c.yaml:9:5: step-one-action"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantLint(t, edited(t, splitBase, tc.edit), tc.want)
		})
	}
}

func TestSchemaSplit(t *testing.T) {
	schemaRejects(t, splitBase, map[string][2]string{
		"zero weight":  {"weight: 30", "weight: 0"},
		"one variant":  {"        - {id: long, weight: 30, goto: l}\n", ""},
		"no goto":      {", goto: l}", "}"},
		"bad id":       {"{id: long", "{id: \"Long B\""},
		"unknown key":  {"goto: s}", "goto: s, wieght: 1}"},
		"split + send": {"  - id: ab\n", "  - id: ab\n    send: {template: t}\n"},
	})
}

// TestSplitPickFollowsWeights: over 10,000 subscribers each variant's share
// is its weight's within 1.5 percentage points (about 4.5 standard errors at
// 10k), the same subscriber always gets the same variant, and another
// version or another step draws anew.
func TestSplitPickFollowsWeights(t *testing.T) {
	sp := &SplitStep{Variants: []SplitVariant{{ID: "a", Weight: 50, Goto: "x"}, {ID: "b", Weight: 30, Goto: "y"}, {ID: "c", Weight: 20, Goto: "z"}}}
	const n = 10000
	counts := make([]int, len(sp.Variants))
	moved, otherStep := 0, 0
	for sub := int64(1); sub <= n; sub++ {
		i := sp.Pick("renewal", "3f2a9c0d1b7e", "ab", sub)
		if i < 0 {
			t.Fatalf("subscriber %d: no variant", sub)
		}
		if again := sp.Pick("renewal", "3f2a9c0d1b7e", "ab", sub); again != i {
			t.Fatalf("subscriber %d: variant %d, then %d", sub, i, again)
		}
		counts[i]++
		if sp.Pick("renewal", "9b1c00000000", "ab", sub) != i {
			moved++
		}
		if sp.Pick("renewal", "3f2a9c0d1b7e", "ab2", sub) != i {
			otherStep++
		}
	}
	for i, v := range sp.Variants {
		share := float64(counts[i]) / n
		if math.Abs(share-v.Weight/100) > 0.015 {
			t.Errorf("variant %s: share %.4f, weight %.2f", v.ID, share, v.Weight/100)
		}
	}
	// Independent draws disagree with probability 1 − (.5² + .3² + .2²) = 0.62.
	for what, k := range map[string]int{"another version": moved, "another step": otherStep} {
		if r := float64(k) / n; math.Abs(r-0.62) > 0.03 {
			t.Errorf("%s: %.3f of subscribers change variant, want about 0.62 (independent draws)", what, r)
		}
	}
	// A fixed subscriber's variant is part of the contract: a change of the
	// hash would move running experiments' subscribers between variants.
	got := []int{}
	for sub := int64(1); sub <= 8; sub++ {
		got = append(got, sp.Pick("renewal", "3f2a9c0d1b7e", "ab", sub))
	}
	if want := []int{1, 1, 1, 1, 2, 1, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("picks of subscribers 1–8 = %v, want %v", got, want)
	}
	if (&SplitStep{Variants: []SplitVariant{{ID: "a", Weight: 0}}}).Pick("c", "v", "s", 1) != -1 {
		t.Error("a split without a positive weight picked a variant")
	}
}
