package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestNoFakeInTheBinary: the production binary links no provider fake and
// not the demo; they have their own binaries (cmd/nudge-fakes,
// cmd/nudge-demo).
func TestNoFakeInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), out)
	}
	const module = "github.com/nudge-engine/nudge/"
	for _, p := range deps {
		if !strings.HasPrefix(p, module) {
			continue
		}
		base := path.Base(p)
		if strings.HasSuffix(base, "fake") || strings.HasSuffix(base, "fakes") || p == module+"demo" {
			t.Errorf("nudge links %s", p)
		}
	}
}
