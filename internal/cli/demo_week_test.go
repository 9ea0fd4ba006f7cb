package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// The GrowFood week runs the example campaigns unchanged through scheduler,
// worker and sandbox channels and prints a funnel with both weekly campaigns.
func TestDemoWeekPrintsFunnel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulated week")
	}
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	t.Setenv("NUDGE_REDIS_URL", testenv.Redis(t))
	t.Setenv("NUDGE_LOG_LEVEL", "error")
	var out, errb bytes.Buffer
	dir := filepath.Join("..", "..", "examples", "growfood")
	code := Main(context.Background(), []string{"demo-week", "--dir", dir, "--wall", "20s", "--subscribers", "40"},
		strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("demo-week exited %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, c := range []string{"weekly-feedback", "weekly-renewal"} {
		m := regexp.MustCompile(c + `\s+(\d+)\s+(\d+)`).FindStringSubmatch(out.String())
		if m == nil || m[1] == "0" || m[2] == "0" {
			t.Errorf("no runs or sends for %s in:\n%s", c, out.String())
		}
	}
}
