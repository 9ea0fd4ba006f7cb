package campaigns

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// The decoder walks the goccy/go-yaml AST into a Definition by reflection over
// the yaml struct tags. Unlike yaml.Unmarshal it never stops at the first
// problem: every unknown field, type error, duplicate key and missing required
// field is collected with the position of the node at fault, and the position
// of every value is recorded under its path ("steps[2].send.template") for the
// lint rules.

// maxNodes bounds the work one file may cause (alias expansion included).
const maxNodes = 200000

// maxDepth bounds nesting (free-form attribute values may nest).
const maxDepth = 64

var (
	durationType = reflect.TypeOf(Duration(0))
	anyType      = reflect.TypeOf((*any)(nil)).Elem()
)

// required lists the keys that must be present per struct type.
var required = map[reflect.Type][]string{
	reflect.TypeOf(Definition{}):       {"id", "name", "topic", "trigger", "settings", "steps"},
	reflect.TypeOf(Segment{}):          {"kind", "id", "name"},
	reflect.TypeOf(Condition{}):        {"attr", "op"},
	reflect.TypeOf(EventFilter{}):      {"name"},
	reflect.TypeOf(ScheduleTrigger{}):  {"cron", "timezone"},
	reflect.TypeOf(EventTrigger{}):     {"name"},
	reflect.TypeOf(Settings{}):         {"channels"},
	reflect.TypeOf(QuietHours{}):       {"start", "end"},
	reflect.TypeOf(FrequencyCap{}):     {"max", "per"},
	reflect.TypeOf(FallbackRung{}):     {"channel", "if_not", "within"},
	reflect.TypeOf(Step{}):             {"id"},
	reflect.TypeOf(SendStep{}):         {"template"},
	reflect.TypeOf(WaitReplyStep{}):    {"timeout", "branches"},
	reflect.TypeOf(ReplyBranch{}):      {"goto"},
	reflect.TypeOf(BranchStep{}):       {"cases"},
	reflect.TypeOf(BranchCase{}):       {"goto"},
	reflect.TypeOf(SplitStep{}):        {"variants"},
	reflect.TypeOf(SplitVariant{}):     {"id", "weight", "goto"},
	reflect.TypeOf(HandoffStep{}):      {"queue"},
	reflect.TypeOf(SetStep{}):          {"attributes"},
	reflect.TypeOf(GoalStep{}):         {"event", "within"},
	reflect.TypeOf(Button{}):           {"text"},
	reflect.TypeOf(WhatsAppTemplate{}): {"name", "language"},
}

// Pos is a 1-based line and column in a campaign file.
type Pos struct {
	Line, Col int
}

type decoder struct {
	file    string
	pos     map[string]Pos // path → value position
	keyPos  map[string]Pos // path → key position
	errs    []LintError
	anchors map[string]ast.Node
	nodes   int
}

func posOf(n ast.Node) Pos {
	if n == nil {
		return Pos{1, 1}
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0] != nil && m.Values[0].Key != nil {
		return posOf(m.Values[0].Key)
	}
	if mv, ok := n.(*ast.MappingValueNode); ok && mv.Key != nil {
		return posOf(mv.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{1, 1}
	}
	return Pos{tk.Position.Line, tk.Position.Column}
}

func tokenPos(tk *token.Token) Pos {
	if tk == nil || tk.Position == nil {
		return Pos{1, 1}
	}
	return Pos{tk.Position.Line, tk.Position.Column}
}

func (d *decoder) errorf(p Pos, rule, hint, format string, args ...any) {
	d.errs = append(d.errs, LintError{File: d.file, Line: p.Line, Col: p.Col, Rule: rule, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// resolve strips anchors, tags and aliases (aliases to anchors defined
// earlier in the document).
func (d *decoder) resolve(n ast.Node) ast.Node {
	for i := 0; i < 16 && n != nil; i++ {
		switch x := n.(type) {
		case *ast.AnchorNode:
			if x.Name != nil {
				d.anchors[x.Name.String()] = x.Value
			}
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		case *ast.AliasNode:
			if x.Value == nil {
				return nil
			}
			target, ok := d.anchors[x.Value.String()]
			if !ok {
				d.errorf(posOf(x), "yaml-syntax", "", "unknown alias *%s", x.Value.String())
				return nil
			}
			n = target
		case *ast.DocumentNode:
			n = x.Body
		default:
			return n
		}
	}
	return n
}

func kindName(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	default:
		return "a " + n.Type().String()
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 15m, 48h or 7d"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// scalarText returns the source text of a scalar node and whether it is one.
func scalarText(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		tk := n.GetToken()
		if tk == nil {
			return "", false
		}
		return tk.Value, true
	}
	return "", false
}

// mapEntry is one key of a mapping, with duplicates already reported.
type mapEntry struct {
	key    string
	keyPos Pos
	value  ast.Node
}

func (d *decoder) entries(m *ast.MappingNode, path string) []mapEntry {
	var out []mapEntry
	seen := map[string]Pos{}
	for _, mv := range m.Values {
		if mv == nil {
			continue
		}
		if mv.Key != nil && mv.Key.IsMergeKey() {
			d.errorf(posOf(mv.Key), "yaml-syntax", "write the keys out; campaign files do not support << merge keys", "merge keys are not supported")
			continue
		}
		kn := d.resolve(mv.Key)
		if mk, ok := kn.(*ast.MappingKeyNode); ok {
			kn = d.resolve(mk.Value)
		}
		key, ok := scalarText(kn)
		if !ok {
			d.errorf(posOf(mv.Key), "invalid-value", "", "%s: keys must be strings", pathOrRoot(path))
			continue
		}
		kp := posOf(mv.Key)
		if first, dup := seen[key]; dup {
			d.errorf(kp, "duplicate-key", fmt.Sprintf("the first %q is at line %d", key, first.Line), "duplicate key %q", key)
			continue
		}
		seen[key] = kp
		out = append(out, mapEntry{key: key, keyPos: kp, value: mv.Value})
	}
	return out
}

func pathOrRoot(p string) string {
	if p == "" {
		return "document"
	}
	return p
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode fills v from n. at is where to report a missing value (the key).
func (d *decoder) decode(n ast.Node, v reflect.Value, path string, at Pos, depth int) {
	d.nodes++
	if d.nodes > maxNodes || depth > maxDepth {
		if d.nodes == maxNodes+1 || depth == maxDepth+1 {
			d.errorf(at, "invalid-value", "", "%s: document too large or too deeply nested", pathOrRoot(path))
		}
		return
	}
	n = d.resolve(n)
	p := at
	if n != nil {
		if _, isNull := n.(*ast.NullNode); !isNull {
			p = posOf(n)
		}
	}
	if path != "" {
		d.pos[path] = p
	}
	t := v.Type()
	if n == nil || n.Type() == ast.NullType {
		// A present key with an empty value: pointers to structs are set
		// (so "end:" and "api:" work), required fields are then checked.
		if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
			nv := reflect.New(t.Elem())
			v.Set(nv)
			d.decodeStruct(nil, nv.Elem(), path, at, depth)
		}
		return
	}
	if t == anyType {
		v.Set(reflect.ValueOf(d.plain(n, depth)))
		return
	}
	if t == durationType {
		s, ok := scalarText(n)
		if !ok {
			d.errorf(p, "invalid-duration", "write it like 15m, 48h, 7d or 1d12h", "%s: must be a duration, got %s", path, kindName(n))
			return
		}
		dur, err := ParseDuration(s)
		if err != nil {
			d.errorf(p, "invalid-duration", "write it like 15m, 48h, 7d or 1d12h", "%s: %v", path, err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		nv := reflect.New(t.Elem())
		d.decode(n, nv.Elem(), path, at, depth)
		v.Set(nv)
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.errorf(p, "invalid-value", "", "%s: must be a string, got %s", path, kindName(n))
			return
		}
		v.SetString(s)
	case reflect.Int:
		in, ok := nodeAs[*ast.IntegerNode](d, n, p, "", path, "an integer")
		if !ok {
			return
		}
		switch x := in.Value.(type) {
		case int64:
			v.SetInt(x)
		case uint64:
			if x > math.MaxInt32 {
				d.errorf(p, "invalid-value", "", "%s: number too large", path)
				return
			}
			v.SetInt(int64(x))
		default:
			d.errorf(p, "invalid-value", "", "%s: must be an integer", path)
		}
	case reflect.Float64:
		switch x := n.(type) {
		case *ast.IntegerNode:
			f, err := strconv.ParseFloat(x.GetToken().Value, 64)
			if err != nil {
				switch iv := x.Value.(type) {
				case int64:
					f = float64(iv)
				case uint64:
					f = float64(iv)
				}
			}
			v.SetFloat(f)
		case *ast.FloatNode:
			v.SetFloat(x.Value)
		default:
			d.errorf(p, "invalid-value", "", "%s: must be a number, got %s", path, kindName(n))
		}
	case reflect.Bool:
		b, ok := nodeAs[*ast.BoolNode](d, n, p, "", path, "true or false")
		if !ok {
			return
		}
		v.SetBool(b.Value)
	case reflect.Slice:
		seq, ok := nodeAs[*ast.SequenceNode](d, n, p, "write a list: one \"- item\" per line", path, "a list")
		if !ok {
			return
		}
		s := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			ip := p
			if i < len(seq.Entries) && seq.Entries[i] != nil {
				ip = tokenPos(seq.Entries[i].Start)
			}
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), ip, depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m, ok := nodeAs[*ast.MappingNode](d, n, p, "", path, "a mapping")
		if !ok {
			return
		}
		mv := reflect.MakeMap(t)
		for _, e := range d.entries(m, path) {
			kp := join(path, e.key)
			d.keyPos[kp] = e.keyPos
			ev := reflect.New(t.Elem()).Elem()
			d.decode(e.value, ev, kp, e.keyPos, depth+1)
			mv.SetMapIndex(reflect.ValueOf(e.key).Convert(t.Key()), ev)
		}
		v.Set(mv)
	case reflect.Struct:
		m, ok := nodeAs[*ast.MappingNode](d, n, p, "", pathOrRoot(path), "a mapping")
		if !ok {
			return
		}
		d.decodeStruct(m, v, path, at, depth)
	default:
		d.errorf(p, "invalid-value", "", "%s: unsupported type %s", path, t)
	}
}

// nodeAs returns n as the node type T a field of its kind needs; otherwise
// it reports at p that path must be want (with hint) and returns false.
func nodeAs[T ast.Node](d *decoder, n ast.Node, p Pos, hint, path, want string) (T, bool) {
	x, ok := n.(T)
	if !ok {
		d.errorf(p, "invalid-value", hint, "%s: must be %s, got %s", path, want, kindName(n))
	}
	return x, ok
}

type fieldInfo struct {
	index int
	name  string
}

func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out = append(out, fieldInfo{index: i, name: name})
	}
	return out
}

func (d *decoder) decodeStruct(m *ast.MappingNode, v reflect.Value, path string, at Pos, depth int) {
	t := v.Type()
	fields := fieldsOf(t)
	byName := map[string]int{}
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.name] = f.index
		names = append(names, f.name)
	}
	present := map[string]bool{}
	if m != nil {
		for _, e := range d.entries(m, path) {
			idx, ok := byName[e.key]
			kp := join(path, e.key)
			if !ok {
				hint := ""
				if s := suggest(e.key, names); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				} else {
					sorted := append([]string(nil), names...)
					sort.Strings(sorted)
					hint = "known fields: " + strings.Join(sorted, ", ")
				}
				d.errorf(e.keyPos, "unknown-field", hint, "unknown field %q in %s", e.key, pathOrRoot(path))
				continue
			}
			present[e.key] = true
			d.keyPos[kp] = e.keyPos
			d.decode(e.value, v.Field(idx), kp, e.keyPos, depth+1)
		}
	}
	for _, r := range required[t] {
		if !present[r] {
			d.errorf(at, "required-field", "", "%s: missing required field %q", pathOrRoot(path), r)
		}
	}
}

// plain converts a free-form node (attribute values) to Go values.
func (d *decoder) plain(n ast.Node, depth int) any {
	d.nodes++
	if d.nodes > maxNodes || depth > maxDepth {
		return nil
	}
	n = d.resolve(n)
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.MappingNode:
		out := map[string]any{}
		for _, e := range d.entries(x, "") {
			out[e.key] = d.plain(e.value, depth+1)
		}
		return out
	case *ast.SequenceNode:
		out := make([]any, 0, len(x.Values))
		for _, item := range x.Values {
			out = append(out, d.plain(item, depth+1))
		}
		return out
	case *ast.StringNode:
		return x.Value
	case *ast.LiteralNode:
		s, _ := scalarText(x)
		return s
	case *ast.IntegerNode:
		switch iv := x.Value.(type) {
		case int64:
			return iv
		case uint64:
			return float64(iv)
		}
		return nil
	case *ast.FloatNode:
		return x.Value
	case *ast.BoolNode:
		return x.Value
	}
	s, _ := scalarText(n)
	return s
}

// suggest returns the candidate closest to s by edit distance, if close enough.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if dd := editDistance(strings.ToLower(s), c); dd < bestD {
			best, bestD = c, dd
		}
	}
	limit := 2
	if len(s) > 6 {
		limit = 3
	}
	if bestD <= limit && bestD < len(s) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance over runes (inputs are short keys).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
