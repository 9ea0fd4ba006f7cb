package sms

import "unicode/utf8"

// gsm7 holds the GSM 03.38 basic set; ext holds the extension table, whose
// characters take two septets (escape + char).
var (
	gsm7 = map[rune]bool{}
	ext  = map[rune]bool{'^': true, '{': true, '}': true, '\\': true, '[': true, '~': true, ']': true, '|': true, '€': true, '\f': true}
)

func init() {
	for _, r := range "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" {
		gsm7[r] = true
	}
}

// Segments counts the SMS segments text needs: GSM-7 fits 160 septets in one
// segment and 153 per segment when concatenated; any other character makes
// the message UCS-2, 70 characters or 67 per concatenated segment (a
// character outside the BMP takes two UTF-16 units).
func Segments(text string) int {
	if text == "" {
		return 0
	}
	septets, units, isGSM := 0, 0, true
	for _, r := range text {
		switch {
		case gsm7[r]:
			septets++
		case ext[r]:
			septets += 2
		default:
			isGSM = false
		}
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	if !utf8.ValidString(text) {
		isGSM = false
	}
	if isGSM {
		if septets <= 160 {
			return 1
		}
		return (septets + 152) / 153
	}
	if units <= 70 {
		return 1
	}
	return (units + 66) / 67
}
