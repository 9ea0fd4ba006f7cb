package subscribers_test

import (
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/subscribers"
)

func TestNormalizePhone(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+79991234567", "+79991234567"},
		{"+7 (999) 123-45-67", "+79991234567"},
		{"8 999 123 45 67", "+79991234567"}, // national, default region RU
		{"89991234567", "+79991234567"},
		{"0079991234567", "+79991234567"},
		{"+447700900004", "+447700900004"},
		{"+82 010 1234 5678", "+821012345678"}, // the national prefix after the country code is dropped
		{"+820000000000", ""},                  // …and would be again each time it is read back
		{"+7 12", ""},
		{"+7 999 FLOWERS", ""},
		{"not a phone", ""},
	} {
		for _, ch := range []channels.Kind{channels.WhatsApp, channels.SMS} {
			got, err := subscribers.NormalizeAddress(ch, c.in)
			if c.want == "" {
				if err == nil {
					t.Errorf("%s %q = %q, want an error", ch, c.in, got)
				}
				continue
			}
			if err != nil || got != c.want {
				t.Errorf("%s %q = %q, %v; want %q", ch, c.in, got, err, c.want)
			}
		}
	}
}

func TestProviderAddress(t *testing.T) {
	for _, c := range []struct {
		ch       channels.Kind
		in, want string
	}{
		{channels.WhatsApp, "79161234567", "+79161234567"}, // Meta's webhook "from"
		{channels.WhatsApp, "447700900004", "+447700900004"},
		{channels.SMS, "+79161234567", "+79161234567"}, // Twilio's From
		{channels.SMS, "NUDGE", "NUDGE"},               // alphanumeric sender: as it came
		{channels.Telegram, "0042", "0042"},            // not a phone channel
	} {
		if got := subscribers.ProviderAddress(c.ch, c.in); got != c.want {
			t.Errorf("ProviderAddress(%s, %q) = %q, want %q", c.ch, c.in, got, c.want)
		}
	}
}

// The region is configurable; bad regions are refused. Not parallel: the
// region is process-wide.
func TestPhoneRegion(t *testing.T) {
	t.Cleanup(func() { _ = subscribers.SetPhoneRegion("") })
	if err := subscribers.SetPhoneRegion("XX"); err == nil {
		t.Error("region XX accepted")
	}
	if err := subscribers.SetPhoneRegion("gb"); err != nil {
		t.Fatal(err)
	}
	if got, err := subscribers.NormalizeAddress(channels.SMS, "07700 900004"); err != nil || got != "+447700900004" {
		t.Errorf("GB national = %q, %v", got, err)
	}
}
