package worker

import (
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
)

// FuzzWaitUntil: "until" comes from campaign files; parsing must never panic.
func FuzzWaitUntil(f *testing.F) {
	for _, s := range []string{"18:00", "fri 18:00", "Friday 9:30", "24:00", "x", "", "mon  07:05", "sat 25:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, until string) {
		_, _ = waitTime(&campaigns.WaitStep{Until: until}, t0, t0.Location())
	})
}
