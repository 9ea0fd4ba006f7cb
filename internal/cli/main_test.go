package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// runMain runs the command line as the binary does, error path included.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// Before `nudge migrate up`, commands that need the schema say so instead
// of printing Postgres's `relation "campaigns" does not exist`.
func TestCommandsOnAnUnmigratedDatabaseSayMigrate(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.EmptyDBURL(t))
	csv := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(csv, []byte("external_id,phone\nc1,+79161234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"campaign", "list"},
		{"campaign", "preview", "weekly-feedback", "--subscriber", "c1"},
		{"subscribers", "import", csv},
	} {
		code, _, stderr := runMain(t, args...)
		if code == 0 || !strings.Contains(stderr, "the database has no Nudge schema yet: run `nudge migrate up`") {
			t.Errorf("nudge %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
	// After migrating, the same command works.
	if code, _, stderr := runMain(t, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: %d %s", code, stderr)
	}
	if code, _, stderr := runMain(t, "campaign", "list"); code != 0 {
		t.Errorf("campaign list after migrate: %d %s", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runMain(t, "--version")
	v := strings.TrimSpace(strings.TrimPrefix(out, "nudge "))
	if code != 0 || !strings.HasPrefix(out, "nudge ") || v == "" {
		t.Fatalf("--version: exit %d, %q", code, out)
	}
	if _, sub, _ := runMain(t, "version"); sub != out {
		t.Errorf("version says %q, --version %q", sub, out)
	}
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "1.2.3" // as -ldflags "-X …/internal/cli.Version=1.2.3" sets it
	if _, out, _ := runMain(t, "--version"); out != "nudge 1.2.3\n" {
		t.Errorf("with -ldflags: %q", out)
	}
}
