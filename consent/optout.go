package consent

import (
	"strings"
	"unicode"

	"github.com/nudge-engine/nudge/channels"
)

// UnsubscribePayload is the button id of an "unsubscribe" reply button;
// templates put it on buttons, IsOptOutEvent recognises its press.
const UnsubscribePayload = "unsubscribe"

// optOutWords are the whole-message opt-out keywords, lower case.
var optOutWords = map[string]bool{
	"stop":        true,
	"стоп":        true,
	"отписаться":  true,
	"unsubscribe": true,
}

// IsOptOut reports whether an inbound text is an opt-out: one of STOP, стоп,
// отписаться, unsubscribe as the whole message, in any case, ignoring
// surrounding spaces and punctuation ("Стоп!", "/stop", "STOP.").
func IsOptOut(text string) bool {
	if len(text) > 64 { // no keyword is that long, even padded
		return false
	}
	w := strings.TrimFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.Is(unicode.Cf, r)
	})
	return optOutWords[strings.ToLower(w)]
}

// IsOptOutEvent reports whether ev asks to stop messages on its channel: a
// provider-level unsubscribe, the unsubscribe button, or an opt-out keyword.
func IsOptOutEvent(ev channels.Event) bool {
	switch ev.Type {
	case channels.EventOptOut:
		return true
	case channels.EventButton:
		return ev.Payload == UnsubscribePayload || IsOptOut(ev.Text)
	case channels.EventText:
		return IsOptOut(ev.Text)
	}
	return false
}
