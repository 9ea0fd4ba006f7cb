package templates

import (
	"strings"
	"testing"
)

func TestCountSMS(t *testing.T) {
	for _, c := range []struct {
		name  string
		text  string
		enc   string
		units int
		segs  int
	}{
		{"empty", "", GSM7, 0, 1},
		{"short gsm", "Hello!", GSM7, 6, 1},
		{"160 gsm", strings.Repeat("a", 160), GSM7, 160, 1},
		{"161 gsm", strings.Repeat("a", 161), GSM7, 161, 2},
		{"306 gsm", strings.Repeat("a", 306), GSM7, 306, 2},
		{"307 gsm", strings.Repeat("a", 307), GSM7, 307, 3},
		{"gsm accents stay gsm", "Café à Zürich: 5€", GSM7, 18, 1},
		{"extension chars count 2", strings.Repeat("€", 80), GSM7, 160, 1},
		{"extension over 160", strings.Repeat("{", 81), GSM7, 162, 2},
		{"extension char not split", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 10), GSM7, 164, 2},
		{"extension pushes a segment", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 152), GSM7, 306, 3},
		{"cyrillic", "Привет", UCS2, 6, 1},
		{"70 ucs2", strings.Repeat("я", 70), UCS2, 70, 1},
		{"71 ucs2", strings.Repeat("я", 71), UCS2, 71, 2},
		{"134 ucs2", strings.Repeat("я", 134), UCS2, 134, 2},
		{"135 ucs2", strings.Repeat("я", 135), UCS2, 135, 3},
		{"one non-gsm char makes ucs2", strings.Repeat("a", 100) + "ы", UCS2, 101, 2},
		{"emoji is a surrogate pair", "👍", UCS2, 2, 1},
		{"surrogate pair not split", strings.Repeat("я", 66) + "👍" + strings.Repeat("я", 10), UCS2, 78, 2},
		{"surrogate pair pushes a segment", strings.Repeat("я", 66) + "👍" + strings.Repeat("я", 66), UCS2, 134, 3},
		{"rub sign is ucs2", "100 ₽", UCS2, 5, 1},
	} {
		got := CountSMS(c.text)
		if got.Encoding != c.enc || got.Units != c.units || got.Segments != c.segs {
			t.Errorf("%s: CountSMS = %+v, want %s/%d/%d", c.name, got, c.enc, c.units, c.segs)
		}
	}
}
