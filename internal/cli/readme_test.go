package cli

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/config"
)

// configDocFile and configDocHeading say where the configuration table
// lives: a file relative to the repository root and the heading of its
// section. Every table in that section counts; a row names its variables in
// full, in backticks, in its first column.
const (
	configDocFile    = "docs/configuration.md"
	configDocHeading = "# Configuration"
)

const repoRoot = "../.."

var envNameRe = regexp.MustCompile(`NUDGE_[A-Z0-9_]*`)

// TestConfigTableIsTrue fails when a NUDGE_* variable the code reads is not
// in the configuration table, or the table names one that nothing reads.
//
// What the code reads comes from two sources: the NUDGE_ string literals of
// every non-test Go file (a literal used as a prefix, the left side of + or
// an argument of strings.HasPrefix, must prefix a documented variable), and
// the names the production loaders look up, recorded through config.Env
// (the channel adapters build theirs from parts, e.g. channels.EnvVar).
func TestConfigTableIsTrue(t *testing.T) {
	documented := readConfigTable(t, filepath.Join(repoRoot, configDocFile), configDocHeading)
	names, prefixes := scanEnvLiterals(t, repoRoot)
	looked := loadedEnvNames(t)

	for name, where := range names {
		if !documented[name] {
			t.Errorf("%s (%s) is not in the configuration table of %s", name, where, configDocFile)
		}
	}
	for name := range looked {
		if !documented[name] {
			t.Errorf("%s is read by the configuration loaders but not in the configuration table of %s", name, configDocFile)
		}
	}
	for p, where := range prefixes {
		if p == "NUDGE_" { // channels.EnvVar builds these: its names are checked through the loaders
			continue
		}
		found := false
		for name := range documented {
			found = found || strings.HasPrefix(name, p)
		}
		if !found {
			t.Errorf("prefix %s (%s) matches no variable in the configuration table of %s", p, where, configDocFile)
		}
	}
	for name := range documented {
		if _, ok := names[name]; !ok && !looked[name] {
			t.Errorf("the configuration table of %s names %s, which nothing reads", configDocFile, name)
		}
	}
	if len(documented) < 20 || len(names) < 20 || len(looked) < 20 {
		t.Fatalf("suspiciously few variables: %d documented, %d literals, %d looked up", len(documented), len(names), len(looked))
	}
}

// readConfigTable returns the variables named in the first column of the
// tables in the section of file that starts at heading.
func readConfigTable(t *testing.T, file, heading string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	level := strings.IndexFunc(heading, func(r rune) bool { return r != '#' })
	cellRe := regexp.MustCompile("`(NUDGE_[A-Z0-9_]+)`")
	out := map[string]bool{}
	in, seen := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			l := strings.IndexFunc(line, func(r rune) bool { return r != '#' })
			if strings.TrimSpace(line) == heading {
				in, seen = true, true
				continue
			}
			if in && l <= level {
				break
			}
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range cellRe.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	return out
}

// scanEnvLiterals finds NUDGE_ names in the string literals of the non-test
// Go files under root: full names, and prefixes from which names are built.
// Each maps to the position of one use.
func scanEnvLiterals(t *testing.T, root string) (names, prefixes map[string]string) {
	t.Helper()
	names, prefixes = map[string]string{}, map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		var stack []ast.Node
		ast.Inspect(file, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			defer func() { stack = append(stack, n) }()
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			pos := fset.Position(lit.Pos())
			where := strings.TrimPrefix(filepath.ToSlash(pos.Filename), repoRoot+"/") + ":" + strconv.Itoa(pos.Line)
			for _, m := range envNameRe.FindAllString(s, -1) {
				if strings.HasSuffix(m, "_") || (m == s && usedAsPrefix(lit, stack[len(stack)-1])) {
					prefixes[m] = where
				} else {
					names[m] = where
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, prefixes
}

// usedAsPrefix reports whether lit is the left side of a string + or the
// prefix argument of strings.HasPrefix / TrimPrefix / CutPrefix.
func usedAsPrefix(lit *ast.BasicLit, parent ast.Node) bool {
	switch p := parent.(type) {
	case *ast.BinaryExpr:
		return p.Op == token.ADD && p.X == lit
	case *ast.CallExpr:
		sel, ok := p.Fun.(*ast.SelectorExpr)
		if !ok || len(p.Args) != 2 || p.Args[1] != lit {
			return false
		}
		pkg, ok := sel.X.(*ast.Ident)
		return ok && pkg.Name == "strings" && strings.HasSuffix(sel.Sel.Name, "Prefix")
	}
	return false
}

// loadedEnvNames runs the loaders every role runs with every variable set,
// so that no loader skips the rest of a channel's settings, and records the
// names they look up.
func loadedEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	looked := map[string]bool{}
	a := &App{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Env: &config.Env{Lookup: func(k string) (string, bool) {
			looked[k] = true
			if strings.HasSuffix(k, "_ACCOUNTS") {
				// Listed accounts read the documented names with the
				// account infixed (the NUDGE_<CHANNEL>_ACCOUNTS row).
				return "", true
			}
			return "1", true
		}}}
	c, _ := a.loadStackConfig() // "1" is a bad value for most: the errors do not matter here
	loadChannels(a.Env, c.core.BaseURL, nil, nil, a.Log, nil)
	if err := a.setupLog(); err != nil {
		t.Logf("setupLog: %v", err)
	}
	names := make([]string, 0, len(looked))
	for k := range looked {
		names = append(names, k)
	}
	sort.Strings(names)
	t.Logf("loaders read %d variables: %s", len(names), strings.Join(names, " "))
	return looked
}
