package cli

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/internal/db"
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

// The CLI's audit entries (users, API keys) carry flow time, as the server's
// do: under a simulated clock the log stays in one order.
func TestCLIAuditStampsTheFlowClock(t *testing.T) {
	run := importCLI(t)
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	t.Setenv("NUDGE_CLOCK_START", start.Format(time.RFC3339))
	for _, args := range [][]string{
		{"users", "add", "anna@shop.example", "--role", "manager"},
		{"users", "passwd", "anna@shop.example"},
		{"apikeys", "create", "backend"},
		{"apikeys", "revoke", "backend"},
	} {
		if code, _, errs := run(args...); code != 0 {
			t.Fatalf("%v: code %d, stderr %q", args, code, errs)
		}
	}
	es := cliAudit(t)
	if len(es) != 4 {
		t.Fatalf("%d audit entries, want 4: %+v", len(es), es)
	}
	for _, e := range es {
		if e.At.Before(start) || e.At.After(start.Add(time.Minute)) {
			t.Errorf("%s %s stamped %s, want flow time shortly after %s", e.Action, e.Subject, e.At, start)
		}
	}
}

// cliAudit reads the audit entries the CLI wrote to NUDGE_DATABASE_URL,
// newest first.
func cliAudit(t *testing.T) []audit.Entry {
	t.Helper()
	url, _ := os.LookupEnv("NUDGE_DATABASE_URL")
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	es, err := audit.List(context.Background(), d, audit.Filter{Actor: audit.CLI})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
