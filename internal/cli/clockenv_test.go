package cli

import (
	"strings"
	"testing"
)

// Every command that opens the database refuses a malformed flow clock, as
// the server's roles do: a command stamping the wall clock while serve runs
// a simulated week would write at the wrong time without a word.
func TestCommandsRefuseAMalformedClock(t *testing.T) {
	run := importCLI(t)
	for _, c := range []struct{ name, value, want string }{
		{"NUDGE_CLOCK_SCALE", "fast", `NUDGE_CLOCK_SCALE: is not a positive number: "fast"`},
		{"NUDGE_CLOCK_START", "2026-13-01", `NUDGE_CLOCK_START: is not an RFC 3339 time: "2026-13-01"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.name, c.value)
			for _, args := range [][]string{
				{"subscribers", "import", "testdata/import/unterminated.csv"},
				{"campaign", "list"},
				{"users", "list"},
			} {
				code, out, errs := run(args...)
				if code != 1 || out != "" || strings.Count(errs, c.want) != 1 {
					t.Errorf("%v: code %d, stdout %q, stderr %q; want 1, nothing, %q once", args, code, out, errs, c.want)
				}
			}
		})
	}
	if code, _, errs := run("users", "list"); code != 0 {
		t.Fatalf("users list with a valid environment: code %d, stderr %q", code, errs)
	}
}
