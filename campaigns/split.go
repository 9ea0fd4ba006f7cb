package campaigns

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// SplitContextKey is the key of a run's context under which the worker
// records the variant each split step sent it down (step id → variant id);
// analytics groups runs by it.
const SplitContextKey = "split"

// Pick returns the index of the variant that subscriberID takes at split
// step stepID of campaignID's version, or -1 when no variant has a positive
// weight (lint refuses such a split). The choice is the first 53 bits of
// SHA-256("<campaign>:<version>:<step>:<subscriber>") as a number in [0, 1),
// laid over the variants' cumulative shares: the same subscriber always
// takes the same variant within a version, shares follow the weights, and
// the choice is independent of the holdout's hash and of other splits.
func (s *SplitStep) Pick(campaignID, version, stepID string, subscriberID int64) int {
	if s == nil {
		return -1
	}
	total := 0.0
	for _, v := range s.Variants {
		if usableWeight(v.Weight) {
			total += v.Weight
		}
	}
	if total <= 0 || math.IsInf(total, 0) {
		return -1
	}
	sum := sha256.Sum256([]byte(campaignID + ":" + version + ":" + stepID + ":" + strconv.FormatInt(subscriberID, 10)))
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	x, acc, last := u*total, 0.0, -1
	for i, v := range s.Variants {
		if !usableWeight(v.Weight) {
			continue
		}
		acc += v.Weight
		last = i
		if x < acc {
			return i
		}
	}
	return last // rounding at the top end
}

func usableWeight(w float64) bool { return w > 0 && !math.IsInf(w, 0) && !math.IsNaN(w) }

// split checks a split step at path p: at least two variants, each with a
// unique id and a positive weight, and no next (the variants say where to
// go; unknown-step checks their goto like every other edge).
func (l *linter) split(p string, s Step) {
	sp := s.Split
	if l.f.Has(p+".split.variants") && len(sp.Variants) < 2 {
		l.addKey(p+".split.variants", "invalid-value", "e.g. variants: [{id: a, weight: 50, goto: offer-a}, {id: b, weight: 50, goto: offer-b}]",
			"a split needs at least two variants (has %d)", len(sp.Variants))
	}
	seen := map[string]int{}
	for j, v := range sp.Variants {
		vp := fmt.Sprintf("%s.split.variants[%d]", p, j)
		if l.f.Has(vp + ".id") {
			if !idRe.MatchString(v.ID) {
				l.add(vp+".id", "invalid-value", "use lowercase letters, digits, - and _, e.g. discount", "variant id %q is not a valid id", v.ID)
			} else if first, dup := seen[v.ID]; dup {
				l.add(vp+".id", "duplicate-id", fmt.Sprintf("the first %q is variants[%d]", v.ID, first), "variant id %q is used twice in this split", v.ID)
			} else {
				seen[v.ID] = j
			}
		}
		if l.f.Has(vp+".weight") && !usableWeight(v.Weight) {
			l.add(vp+".weight", "invalid-value", "a share relative to the other variants, e.g. 50 and 50, or 90 and 10", "variant weight must be a positive number, got %v", v.Weight)
		}
	}
	if s.Next != "" {
		l.add(p+".next", "invalid-value", "each variant's goto says where its runs go", "a split step has no next")
	}
}
