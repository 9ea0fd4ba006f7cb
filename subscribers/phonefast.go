package subscribers

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// A number already in E.164 ("+79991234567", what most exports hold) is
// read without phonenumbers.Parse, whose extension and viability regexps were
// half of an import's CPU. The fast path only splits the country code off,
// the way Parse does, and leaves every judgement to phonenumbers: it declines
// (ok = false, and the caller parses) whenever Parse could read the digits
// differently: a national number starting with 0 (Italian leading zeros) or
// with something the region's national-prefix rule would strip. The result is
// still checked by phonenumbers.IsPossibleNumber. TestPhoneFastPathAgrees
// compares it with Parse for every calling code.

// e164Meta maps each calling code to the metadata Parse reads its numbers
// with: its main region's (or the non-geographic entity's).
var e164Meta = sync.OnceValue(func() map[int]*phonenumbers.PhoneMetadata {
	out := map[int]*phonenumbers.PhoneMetadata{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return out // every number takes phonenumbers.Parse
	}
	for _, m := range coll.GetMetadata() {
		cc := int(m.GetCountryCode())
		if m.GetId() == phonenumbers.GetRegionCodeForCountryCode(cc) {
			out[cc] = m
		}
	}
	return out
})

// nationalPrefixes caches the compiled national-prefix-for-parsing rules,
// anchored as Parse anchors them; a bounded set (one per region).
var nationalPrefixes sync.Map // pattern → *regexp.Regexp

func nationalPrefix(pattern string) *regexp.Regexp {
	if re, ok := nationalPrefixes.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile("^(?:" + pattern + ")")
	if err != nil {
		re = regexp.MustCompile("") // matches everything: always the slow path
	}
	nationalPrefixes.Store(pattern, re)
	return re
}

// parseE164 reads "+" and digits as Parse would, or says it cannot be sure.
func parseE164(a string) (*phonenumbers.PhoneNumber, bool) {
	if len(a) < 4 || a[0] != '+' || a[1] == '0' {
		return nil, false
	}
	digits := a[1:]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, false
		}
	}
	meta := e164Meta()
	for l := 1; l <= 3 && l < len(digits); l++ {
		cc, _ := strconv.Atoi(digits[:l])
		if phonenumbers.GetRegionCodeForCountryCode(cc) == phonenumbers.UNKNOWN_REGION {
			continue // not a calling code: Parse tries a longer prefix too
		}
		m := meta[cc]
		nat := digits[l:]
		if m == nil || len(nat) < phonenumbers.MIN_LENGTH_FOR_NSN || len(nat) > phonenumbers.MAX_LENGTH_FOR_NSN || nat[0] == '0' {
			return nil, false
		}
		if p := m.GetNationalPrefixForParsing(); p != "" && nationalPrefix(p).MatchString(nat) {
			return nil, false
		}
		nn, err := strconv.ParseUint(nat, 10, 64)
		if err != nil {
			return nil, false
		}
		cc32 := int32(cc)
		return &phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &nn}, true
	}
	return nil, false
}
