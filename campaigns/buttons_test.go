package campaigns

import "testing"

// A press at the wait_reply after a send reads as the label the customer saw
// on that channel and in their locale.
func TestButtonLabel(t *testing.T) {
	f, err := Load("../examples/growfood/weekly-feedback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := f.Def
	for _, tc := range []struct{ step, id, channel, locale, want string }{
		{"answer", "dislike", "telegram", "ru", "👎 Не очень"},
		{"answer", "like", "telegram", "en", "👍 Loved it"},
		{"ask", "like", "viber", "ru", "👍 Понравилось"},
		{"answer", "dislike", "sms", "xx", "👎 Not really"}, // no such variant: the first locale of another
		{"answer", "nope", "telegram", "ru", ""},
		{"no-such-step", "like", "telegram", "en", "👍 Loved it"},
	} {
		if got := d.ButtonLabel(tc.step, tc.id, tc.channel, tc.locale); got != tc.want {
			t.Errorf("ButtonLabel(%s, %s, %s, %s) = %q, want %q", tc.step, tc.id, tc.channel, tc.locale, got, tc.want)
		}
	}
}
