package campaigns

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxFileSize bounds a campaign file (the API takes the same limit).
const MaxFileSize = 1 << 20

// File is one loaded campaign file: its definition plus the position of every
// value, so lint rules can point at the line and column at fault.
type File struct {
	Path   string
	Def    *Definition
	Source []byte
	// Segment is set, and Def empty, for a kind: segment file.
	Segment *Segment

	// Problems found while parsing and decoding (syntax, unknown fields,
	// type errors, duplicate keys, missing required fields). Lint reports them.
	Problems []LintError

	pos    map[string]Pos
	keyPos map[string]Pos
}

// LintError is one problem at a position in a campaign file.
type LintError struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Rule string `json:"rule"`
	Msg  string `json:"message"`
	Hint string `json:"hint,omitempty"`
	// Severity is "" for an error, which refuses the file, or SeverityWarning
	// for a problem the author should look at but may keep.
	Severity string `json:"severity,omitempty"`
}

// SeverityWarning marks a lint problem that does not refuse a file.
const SeverityWarning = "warning"

func (e LintError) Error() string {
	if e.Severity == SeverityWarning {
		return fmt.Sprintf("%s:%d:%d: warning: %s: %s", e.File, e.Line, e.Col, e.Rule, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Col, e.Rule, e.Msg)
}

// Errors returns the problems that refuse a file: all but the warnings.
func Errors(ps []LintError) []LintError {
	var out []LintError
	for _, e := range ps {
		if e.Severity != SeverityWarning {
			out = append(out, e)
		}
	}
	return out
}

// Problems is a list of lint errors used as an error value.
type Problems []LintError

func (p Problems) Error() string {
	if len(p) == 0 {
		return "no problems"
	}
	if len(p) == 1 {
		return p[0].Error()
	}
	return fmt.Sprintf("%s (and %d more problems)", p[0].Error(), len(p)-1)
}

// ErrTooLarge is returned for files over MaxFileSize.
var ErrTooLarge = errors.New("campaign file larger than 1 MiB")

// Load reads and parses one campaign file. The returned File is non-nil
// whenever the file could be read; err is a Problems value when the file has
// parse or decode problems (f.Problems holds the same list).
func Load(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load campaign: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("load campaign %s: %w", path, ErrTooLarge)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load campaign: %w", err)
	}
	return Parse(path, src)
}

// Parse parses campaign source named path (used in positions).
func Parse(path string, src []byte) (*File, error) {
	f := &File{Path: path, Source: src, Def: &Definition{}, pos: map[string]Pos{}, keyPos: map[string]Pos{}}
	f.parse()
	if len(f.Problems) > 0 {
		return f, Problems(f.Problems)
	}
	return f, nil
}

func (f *File) parse() {
	d := &decoder{file: f.Path, pos: f.pos, keyPos: f.keyPos, anchors: map[string]ast.Node{}}
	defer func() {
		// The parser is third-party code: a panic on hostile input becomes a
		// syntax problem, never a crash.
		if r := recover(); r != nil {
			f.Problems = append(d.errs, LintError{File: f.Path, Line: 1, Col: 1, Rule: "yaml-syntax", Msg: fmt.Sprintf("cannot parse: %v", r)})
		}
	}()
	if len(f.Source) > MaxFileSize {
		f.Problems = []LintError{{File: f.Path, Line: 1, Col: 1, Rule: "yaml-syntax", Msg: ErrTooLarge.Error()}}
		return
	}
	if strings.ContainsRune(string(f.Source), 0) {
		f.Problems = []LintError{{File: f.Path, Line: 1, Col: 1, Rule: "yaml-syntax", Msg: "file contains a NUL byte; is it a text file?"}}
		return
	}
	// A UTF-8 byte order mark (some Windows editors write one) is not content.
	src := bytes.TrimPrefix(f.Source, []byte("\xef\xbb\xbf"))
	af, err := parser.ParseBytes(src, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		f.Problems = []LintError{syntaxError(f.Path, err)}
		return
	}
	var body ast.Node
	docs := 0
	for _, doc := range af.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, isComment := doc.Body.(*ast.CommentGroupNode); isComment {
			continue
		}
		docs++
		if docs == 1 {
			body = doc.Body
		} else {
			d.errorf(posOf(doc.Body), "yaml-syntax", "put each campaign in its own file", "more than one YAML document in a campaign file")
		}
	}
	if body == nil {
		d.errorf(Pos{1, 1}, "required-field", "", "empty file: a campaign needs id, name, topic, trigger, settings and steps")
		f.Problems = d.errs
		return
	}
	if kindOf(body) == KindSegment {
		f.Segment = &Segment{}
		d.decode(body, reflect.ValueOf(f.Segment).Elem(), "", Pos{1, 1}, 0)
	} else {
		d.decode(body, reflect.ValueOf(f.Def).Elem(), "", Pos{1, 1}, 0)
	}
	f.Problems = d.errs
}

// kindOf returns the top-level kind: of a document ("" when absent).
func kindOf(body ast.Node) string {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		return ""
	}
	for _, v := range m.Values {
		if v == nil || v.Key == nil {
			continue
		}
		if k, ok := scalarText(v.Key); ok && k == "kind" {
			s, _ := scalarText(v.Value)
			return s
		}
	}
	return ""
}

// IsSegment reports whether f is a kind: segment file.
func (f *File) IsSegment() bool { return f != nil && f.Segment != nil }

func syntaxError(path string, err error) LintError {
	le := LintError{File: path, Line: 1, Col: 1, Rule: "yaml-syntax", Msg: err.Error()}
	var se *yaml.SyntaxError
	if errors.As(err, &se) {
		le.Msg = se.Message
		if se.Token != nil && se.Token.Position != nil {
			le.Line, le.Col = se.Token.Position.Line, se.Token.Position.Column
		}
	}
	if le.Line < 1 {
		le.Line = 1
	}
	if le.Col < 1 {
		le.Col = 1
	}
	return le
}

// At returns the position of the value at path ("steps[1].send.template"),
// falling back to the nearest enclosing value that was present.
func (f *File) At(path string) Pos {
	for path != "" {
		if p, ok := f.pos[path]; ok {
			return p
		}
		path = parentPath(path)
	}
	return Pos{1, 1}
}

// KeyAt returns the position of the key of path, or At(path) when the key is
// not known (list items).
func (f *File) KeyAt(path string) Pos {
	if p, ok := f.keyPos[path]; ok {
		return p
	}
	return f.At(path)
}

// Has reports whether path was present in the file.
func (f *File) Has(path string) bool {
	_, ok := f.pos[path]
	return ok
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// ErrNoFiles is returned by Expand for a directory without campaign files.
var ErrNoFiles = errors.New("no *.yaml or *.yml files")

// Expand turns paths into campaign file paths: a directory expands to its
// *.yaml and *.yml files (recursively, sorted); a file stays as it is.
func Expand(paths ...string) ([]string, error) {
	var out []string
	for _, arg := range paths {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, arg)
			continue
		}
		var found []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: %w", arg, ErrNoFiles)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// LoadAll expands paths and loads every file. Files with problems are
// returned with their Problems (lint them); err is only for files that
// cannot be read.
func LoadAll(paths ...string) ([]*File, error) {
	names, err := Expand(paths...)
	if err != nil {
		return nil, err
	}
	files := make([]*File, 0, len(names))
	for _, p := range names {
		f, err := Load(p)
		if f == nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}
