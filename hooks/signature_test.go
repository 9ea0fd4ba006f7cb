package hooks

import (
	"errors"
	"testing"
	"time"
)

// A receiver accepts what Sign produced within the tolerance and rejects a
// changed body, another secret, a replay older than 5 minutes and a header
// without a v1; a rotated header with two signatures passes on either.
func TestVerify(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"evt_1","type":"optout"}`)
	h := Sign("whsec_a", at, body)
	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"fresh", "whsec_a", h, body, at.Add(time.Minute), nil},
		{"clock behind", "whsec_a", h, body, at.Add(-time.Minute), nil},
		{"body changed", "whsec_a", h, []byte(`{"id":"evt_2","type":"optout"}`), at, ErrBadSignature},
		{"other secret", "whsec_b", h, body, at, ErrBadSignature},
		{"replayed later", "whsec_a", h, body, at.Add(DefaultTolerance + time.Second), ErrStale},
		{"no v1", "whsec_a", "t=1772366400", body, at, ErrNoSignature},
		{"empty", "whsec_a", "", body, at, ErrNoSignature},
		{"rotated", "whsec_a", h + ",v1=" + Sign("whsec_b", at, body)[len("t=1772366400,v1="):], body, at, nil},
	}
	for _, c := range cases {
		err := Verify(c.secret, c.header, c.body, c.now, DefaultTolerance)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
