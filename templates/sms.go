package templates

import "unicode/utf16"

// GSM 03.38 default alphabet and its extension table (each extension
// character is sent as ESC + char and so takes two septets).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

var gsmWidth = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// SMS encodings.
const (
	GSM7 = "gsm7"
	UCS2 = "ucs2"
)

// SMSInfo is how an SMS text is encoded and billed.
type SMSInfo struct {
	Encoding string // GSM7 or UCS2
	Units    int    // septets (GSM-7) or UTF-16 code units (UCS-2)
	Segments int
}

// CountSMS returns the encoding and segment count of text: GSM-7 when every
// character is in the GSM 03.38 alphabet (160 septets in one segment, 153 per
// segment when concatenated, extension characters taking 2 and never split
// across segments), else UCS-2 (70 code units, 67 per concatenated segment,
// surrogate pairs never split). An empty text is one segment.
func CountSMS(text string) SMSInfo {
	gsm := true
	for _, r := range text {
		if gsmWidth[r] == 0 {
			gsm = false
			break
		}
	}
	var widths []int
	single, multi := 70, 67
	enc := UCS2
	if gsm {
		enc = GSM7
		single, multi = 160, 153
		for _, r := range text {
			widths = append(widths, gsmWidth[r])
		}
	} else {
		for _, r := range text {
			widths = append(widths, utf16.RuneLen(r))
		}
	}
	units := 0
	for _, w := range widths {
		units += w
	}
	info := SMSInfo{Encoding: enc, Units: units, Segments: 1}
	if units <= single {
		return info
	}
	segs, used := 1, 0
	for _, w := range widths {
		if used+w > multi {
			segs++
			used = 0
		}
		used += w
	}
	info.Segments = segs
	return info
}
