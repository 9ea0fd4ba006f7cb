package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Write is one statement in a Go string that writes a table.
type Write struct {
	Package string // directory relative to the module root, e.g. "worker"
	Pos     string // file:line
	Verb    string // insert, update, delete, truncate, copy
	Table   string
}

// Call is one call of a method named Send with two arguments (ctx and a
// message): the shape of a provider's Send.
type Call struct {
	Package string
	Pos     string
}

// writeRes find the table each writing statement names. Lower-cased SQL
// with comments removed; an alias may follow UPDATE's table.
var writeRes = []struct {
	verb string
	re   *regexp.Regexp
}{
	{"insert", regexp.MustCompile(`\binsert\s+into\s+(?:only\s+)?([a-z_][a-z0-9_]*)`)},
	{"update", regexp.MustCompile(`\bupdate\s+(?:only\s+)?([a-z_][a-z0-9_]*)(?:\s+(?:as\s+)?[a-z_][a-z0-9_]*)?\s+set\b`)},
	{"delete", regexp.MustCompile(`\bdelete\s+from\s+(?:only\s+)?([a-z_][a-z0-9_]*)`)},
	{"truncate", regexp.MustCompile(`\btruncate\s+(?:table\s+)?(?:only\s+)?([a-z_][a-z0-9_]*)`)},
	{"copy", regexp.MustCompile(`\bcopy\s+([a-z_][a-z0-9_]*)\s*(?:\([^)]*\)\s*)?from\b`)},
}

var sqlComment = regexp.MustCompile(`(?s)--[^\n]*|/\*.*?\*/`)

// SQLWrites returns the (verb, table) pairs that sql writes.
func SQLWrites(sql string) [][2]string {
	s := strings.ToLower(sqlComment.ReplaceAllString(sql, " "))
	var out [][2]string
	for _, w := range writeRes {
		for _, m := range w.re.FindAllStringSubmatch(s, -1) {
			if m[1] == "set" { // ON CONFLICT … DO UPDATE SET
				continue
			}
			out = append(out, [2]string{w.verb, m[1]})
		}
	}
	return out
}

// ScanFile returns the writes and Send calls of one Go source file of
// package pkg. Every string literal is read as SQL (constants, variables,
// arguments alike); a literal first argument of pq.CopyIn names a table
// COPY writes.
func ScanFile(fset *token.FileSet, pkg, name string, src any) ([]Write, []Call, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, nil, err
	}
	var writes []Write
	var calls []Call
	pos := func(p token.Pos) string {
		at := fset.Position(p)
		return filepath.ToSlash(at.Filename) + ":" + strconv.Itoa(at.Line)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(n.Value)
			if err != nil {
				return true
			}
			for _, w := range SQLWrites(s) {
				writes = append(writes, Write{Package: pkg, Pos: pos(n.Pos()), Verb: w[0], Table: w[1]})
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch {
			case sel.Sel.Name == "CopyIn" && isIdent(sel.X, "pq") && len(n.Args) > 0:
				if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if t, err := strconv.Unquote(lit.Value); err == nil {
						writes = append(writes, Write{Package: pkg, Pos: pos(n.Pos()), Verb: "copy", Table: strings.ToLower(t)})
					}
				}
			case sel.Sel.Name == "Send" && len(n.Args) == 2:
				calls = append(calls, Call{Package: pkg, Pos: pos(n.Pos())})
			}
		}
		return true
	})
	return writes, calls, nil
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// ScanModule scans every non-test .go file under root (the module root),
// skipping testdata and hidden directories.
func ScanModule(root string) ([]Write, []Call, error) {
	fset := token.NewFileSet()
	var writes []Write
	var calls []Call
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w, c, err := ScanFile(fset, filepath.ToSlash(filepath.Dir(rel)), filepath.ToSlash(rel), src)
		if err != nil {
			return err
		}
		writes, calls = append(writes, w...), append(calls, c...)
		return nil
	})
	sort.Slice(writes, func(i, j int) bool { return writes[i].Pos < writes[j].Pos })
	return writes, calls, err
}

// Rules says which packages may write which table.
type Rules struct {
	// Owners lists, per table, the packages that write it by design.
	Owners map[string][]string
	// Pending lists known violations, table → package → the branch or
	// follow-up that removes them. They pass until removed; an entry whose
	// violation is gone is reported as stale, so the list only shrinks.
	Pending map[string]map[string]string
}

// Check returns one message per write by a package that neither owns the
// table nor is pending for it, per write of a table without owners, and per
// stale pending entry.
func (r Rules) Check(writes []Write) []string {
	var out []string
	seen := map[[2]string]bool{}
	for _, w := range writes {
		owners, known := r.Owners[w.Table]
		switch {
		case !known:
			out = append(out, w.Pos+": "+w.Package+" writes "+w.Table+" ("+w.Verb+"), a table with no owner in the rules: add it")
		case slices.Contains(owners, w.Package):
		case r.Pending[w.Table][w.Package] != "":
			seen[[2]string{w.Table, w.Package}] = true
		default:
			out = append(out, w.Pos+": "+w.Package+" writes "+w.Table+" ("+w.Verb+"), which "+strings.Join(owners, ", ")+" owns: call the owner instead")
		}
	}
	for table, pkgs := range r.Pending {
		for pkg, why := range pkgs {
			if !seen[[2]string{table, pkg}] {
				out = append(out, "stale pending entry: "+pkg+" no longer writes "+table+" ("+why+"): remove it")
			}
		}
	}
	sort.Strings(out)
	return out
}
