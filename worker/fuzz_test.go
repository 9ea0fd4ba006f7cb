package worker

import (
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

// FuzzMatchReply: subscriber replies are outside input; matching must never
// panic and a button press always wins over text.
func FuzzMatchReply(f *testing.F) {
	for _, s := range []string{"Да, очень вкусно!", "СТОП", "not  good", "", "🙂👍", "стоп\x00", "  \t\n"} {
		f.Add(s, "yes")
		f.Add(s, "")
	}
	br := []campaigns.ReplyBranch{
		{Button: "yes", Goto: "a"},
		{Keywords: []string{"вкусно", "not good", ""}, Goto: "b"},
		{Sentiment: "negative", Goto: "c"},
	}
	f.Fuzz(func(t *testing.T, text, button string) {
		got, ok := MatchReply(br, Reply{Text: text, Button: button})
		if button == "yes" && (got != "a" || !ok) {
			t.Fatalf("button yes with text %q went to %q", text, got)
		}
		if !ok && got != "" {
			t.Fatalf("unmatched reply returned %q", got)
		}
	})
}

// FuzzWaitUntil: "until" comes from campaign files; parsing must never panic.
func FuzzWaitUntil(f *testing.F) {
	for _, s := range []string{"18:00", "fri 18:00", "Friday 9:30", "24:00", "x", "", "mon  07:05", "sat 25:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, until string) {
		_, _ = waitTime(&campaigns.WaitStep{Until: until}, t0, t0.Location())
	})
}
