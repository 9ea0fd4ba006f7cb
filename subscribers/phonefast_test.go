package subscribers

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// agreeWithParse fails t when the fast path reads a as something other than
// phonenumbers.Parse does.
func agreeWithParse(t testing.TB, a string) bool {
	fast, ok := parseE164(a)
	if !ok {
		return false
	}
	slow, err := phonenumbers.Parse(a, PhoneRegion())
	if err != nil {
		t.Fatalf("%q: the fast path read %v, Parse failed: %v", a, fast, err)
	}
	if f, s := phonenumbers.Format(fast, phonenumbers.E164), phonenumbers.Format(slow, phonenumbers.E164); f != s {
		t.Fatalf("%q: fast path %s, Parse %s", a, f, s)
	} else if s != a { // normalizePhone returns what the fast path reads as it came
		t.Fatalf("%q: the fast path took it, Parse formats it as %s", a, s)
	}
	if f, s := phonenumbers.IsPossibleNumber(fast), phonenumbers.IsPossibleNumber(slow); f != s {
		t.Fatalf("%q: possible by the fast path %v, by Parse %v", a, f, s)
	}
	return true
}

// For every calling code, national numbers of every length starting with
// every digit (national prefixes, Italian zeros, carrier codes among them):
// whatever the fast path accepts, Parse reads the same.
func TestPhoneFastPathAgrees(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	codes := phonenumbers.GetSupportedCallingCodes()
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		codes[cc] = true
	}
	fast, all := 0, 0
	for cc := range codes {
		for n := 1; n <= 18; n++ {
			for first := '0'; first <= '9'; first++ {
				for range 3 {
					var b strings.Builder
					b.WriteString("+" + strconv.Itoa(cc))
					b.WriteRune(first)
					for range n - 1 {
						b.WriteByte(byte('0' + rnd.IntN(10)))
					}
					all++
					if agreeWithParse(t, b.String()) {
						fast++
					}
				}
			}
		}
	}
	for _, a := range []string{"+79991234567", "+77011234567", "+447700900004", "+4915123456789", "+998901234567"} {
		if !agreeWithParse(t, a) {
			t.Errorf("%q took the slow path", a)
		}
	}
	for _, a := range []string{"+789991234567", "+390612345678", "+0079991234567", "+7 999 123-45-67", "+7999123456x1", "+7"} {
		if _, ok := parseE164(a); ok {
			t.Errorf("%q took the fast path", a)
		}
	}
	t.Logf("%d of %d numbers took the fast path", fast, all)
}

func FuzzPhoneFastPath(f *testing.F) {
	for _, s := range []string{"+79991234567", "+78991234567", "+390612345678", "+5491123456789", "+80012345678", "+1201555012"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, a string) {
		agreeWithParse(t, a)
	})
}
