package campaigns

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/lib/pq"
)

// This file is the one home of a condition's meaning (audience.where and
// branch cases). Match evaluates it in Go for one subscriber (the worker's
// branch steps); SQL compiles it to a predicate over the subscribers row
// (the scheduler's audiences). TestConditionsGoAndSQLAgree runs one table
// through both against Postgres.
//
// Values are typed as JSON is: a number only equals or orders against a
// number, a string against a string (byte order, so ISO dates such as
// 2026-11-27 order as dates), a boolean only equals a boolean. A missing
// attribute (or a JSON null, or an empty locale/time_zone/name/external_id)
// matches ne, not_in and not_exists only.

// Op is a condition operator.
type Op string

// The condition operators.
const (
	OpEq        Op = "eq"         // equal, typed
	OpNe        Op = "ne"         // not eq (a missing attribute is ne everything)
	OpIn        Op = "in"         // eq to an element of a list
	OpNotIn     Op = "not_in"     // not in
	OpGt        Op = "gt"         // number > number, or string > string (byte order)
	OpGte       Op = "gte"        // >=
	OpLt        Op = "lt"         // <
	OpLte       Op = "lte"        // <=
	OpExists    Op = "exists"     // present and not null
	OpNotExists Op = "not_exists" // missing or null
	OpContains  Op = "contains"   // a string attribute has the substring, or a list attribute the element
)

// Ops lists every operator, in the order docs print them.
var Ops = []Op{OpEq, OpNe, OpIn, OpNotIn, OpGt, OpGte, OpLt, OpLte, OpExists, OpNotExists, OpContains}

// Valid reports whether o is a known operator.
func (o Op) Valid() bool {
	for _, x := range Ops {
		if o == x {
			return true
		}
	}
	return false
}

func opNames() []string {
	out := make([]string, len(Ops))
	for i, o := range Ops {
		out[i] = string(o)
	}
	return out
}

// ErrCondition is wrapped by every invalid condition.
var ErrCondition = errors.New("invalid condition")

// Fields a condition may name besides attributes: the subscriber's text
// columns. An empty column counts as missing.
var textFields = map[string]string{"locale": "locale", "time_zone": "time_zone", "name": "name", "external_id": "external_id"}

// FieldNames lists the fields a condition may name besides attributes.
func FieldNames() []string {
	out := make([]string, 0, len(textFields))
	for f := range textFields {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// AttrPrefix reaches an attribute whose name is also a field ("attributes.locale").
const AttrPrefix = "attributes."

// Subject is what a condition reads about a subscriber.
type Subject struct {
	Locale, TimeZone, Name, ExternalID string
	// Attributes as decoded from JSON (numbers float64 or json.Number).
	Attributes map[string]any
}

// digits: a path segment Postgres would read as an array index; refused so
// that Go and SQL never disagree on what it means.
var digits = regexp.MustCompile(`^-?[0-9]+$`)

// subject resolves Attr: a text field, or a path into the attributes
// ("plan", "address.city", "attributes.locale").
func (c Condition) subject() (field string, path []string, err error) {
	if c.Attr == "" {
		return "", nil, fmt.Errorf("%w: attr is required", ErrCondition)
	}
	if f, ok := textFields[c.Attr]; ok {
		return f, nil, nil
	}
	rest := strings.TrimPrefix(c.Attr, AttrPrefix)
	if rest == "" {
		return "", nil, fmt.Errorf("%w: attr %q names no attribute after the attributes. prefix", ErrCondition, c.Attr)
	}
	path = strings.Split(rest, ".")
	for _, p := range path {
		if p == "" {
			return "", nil, fmt.Errorf("%w: attr %q has an empty part", ErrCondition, c.Attr)
		}
		if digits.MatchString(p) {
			return "", nil, fmt.Errorf("%w: attr %q: %q looks like a list index; conditions read keys only", ErrCondition, c.Attr, p)
		}
	}
	return "", path, nil
}

// Validate checks the operator and the value's type for it.
func (c Condition) Validate() error {
	field, _, err := c.subject()
	if err != nil {
		return err
	}
	switch c.Op {
	case "":
		return fmt.Errorf("%w: op is required", ErrCondition)
	case OpExists, OpNotExists:
		if c.Value != nil {
			return fmt.Errorf("%w: op %s takes no value", ErrCondition, c.Op)
		}
		return nil
	case OpEq, OpNe, OpContains:
		v, err := scalar(c.Value)
		if err != nil {
			return fmt.Errorf("%w: op %s: %v", ErrCondition, c.Op, err)
		}
		if _, ok := v.(string); field != "" && !ok {
			return fmt.Errorf("%w: %s %s needs a string value, got %s", ErrCondition, c.Attr, c.Op, valueKind(c.Value))
		}
		return nil
	case OpIn, OpNotIn:
		list, err := listOf(c.Value)
		if err != nil {
			return fmt.Errorf("%w: op %s: %v", ErrCondition, c.Op, err)
		}
		for i, x := range list {
			if _, ok := x.(string); field != "" && !ok {
				return fmt.Errorf("%w: %s %s: value[%d] must be a string, got %s", ErrCondition, c.Attr, c.Op, i, valueKind(x))
			}
		}
		return nil
	case OpGt, OpGte, OpLt, OpLte:
		v, err := scalar(c.Value)
		if err != nil {
			return fmt.Errorf("%w: op %s: %v", ErrCondition, c.Op, err)
		}
		switch v.(type) {
		case float64:
			if field != "" {
				return fmt.Errorf("%w: %s %s needs a string value, got a number", ErrCondition, c.Attr, c.Op)
			}
		case string:
		default:
			return fmt.Errorf("%w: op %s needs a number or a string value, got %s", ErrCondition, c.Op, valueKind(c.Value))
		}
		return nil
	}
	return fmt.Errorf("%w: unknown op %q (use one of %s)", ErrCondition, c.Op, strings.Join(opNames(), ", "))
}

// Match evaluates c for s. An invalid condition is an error (lint refuses it
// before a version is applied).
func (c Condition) Match(s Subject) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	v, ok := c.lookup(s)
	switch c.Op {
	case OpExists:
		return ok, nil
	case OpNotExists:
		return !ok, nil
	case OpNe:
		return !ok || !jsonEqual(v, mustScalar(c.Value)), nil
	case OpNotIn:
		return !ok || !inList(v, c.Value), nil
	}
	if !ok {
		return false, nil
	}
	switch c.Op {
	case OpEq:
		return jsonEqual(v, mustScalar(c.Value)), nil
	case OpIn:
		return inList(v, c.Value), nil
	case OpContains:
		want := mustScalar(c.Value)
		switch x := v.(type) {
		case string:
			w, isStr := want.(string)
			return isStr && strings.Contains(x, w), nil
		case []any:
			for _, e := range x {
				if jsonEqual(normalise(e), want) {
					return true, nil
				}
			}
		}
		return false, nil
	}
	// gt, gte, lt, lte
	var cmp int
	switch want := mustScalar(c.Value).(type) {
	case float64:
		got, isNum := v.(float64)
		if !isNum {
			return false, nil
		}
		switch {
		case got < want:
			cmp = -1
		case got > want:
			cmp = 1
		}
	case string:
		got, isStr := v.(string)
		if !isStr {
			return false, nil
		}
		cmp = strings.Compare(got, want)
	}
	switch c.Op {
	case OpGt:
		return cmp > 0, nil
	case OpGte:
		return cmp >= 0, nil
	case OpLt:
		return cmp < 0, nil
	default:
		return cmp <= 0, nil
	}
}

// Lookup returns the value c reads from s (numbers as float64), and
// whether it is present: not missing, not null, not an empty field.
func (c Condition) Lookup(s Subject) (any, bool) { return c.lookup(s) }

func (c Condition) lookup(s Subject) (any, bool) {
	field, path, _ := c.subject()
	if field != "" {
		v := map[string]string{"locale": s.Locale, "time_zone": s.TimeZone, "name": s.Name, "external_id": s.ExternalID}[field]
		return v, v != ""
	}
	var cur any = s.Attributes
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	cur = normalise(cur)
	return cur, cur != nil
}

func inList(v, list any) bool {
	items, _ := listOf(list)
	for _, x := range items {
		if jsonEqual(v, x) {
			return true
		}
	}
	return false
}

// jsonEqual is jsonb's = for a value against a scalar: same type, same value
// (numbers numerically). Lists and maps equal no scalar.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case string, bool, float64:
		return x == b
	}
	return false
}

// Params collects positional query parameters: Add appends v and returns
// its placeholder ($n). scheduler.Args implements it.
type Params interface{ Add(v any) string }

// SQL compiles c to a boolean predicate over the subscribers row aliased
// row (e.g. "s"). Every value and every attribute name goes through p;
// nothing from the definition is spliced into the SQL text.
func (c Condition) SQL(row string, p Params) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	field, path, _ := c.subject()
	// a: the subject as jsonb, NULL when missing (so every operator has one
	// form for fields and attributes).
	var a string
	if field != "" {
		col := row + "." + field
		a = "(CASE WHEN " + col + " <> '' THEN to_jsonb(" + col + ") END)"
	} else {
		a = c.nullIsMissing("(" + row + ".attributes #> " + p.Add(pq.Array(path)) + "::text[])")
	}
	return c.opSQL(a, p)
}

// nullIsMissing makes a JSON null subject a missing one (SQL NULL), as in
// Match, for the operators that tell them apart: exists, not_exists and the
// list ones. The others give a JSON null what they give a missing subject
// (= and the comparisons check the type first), so they skip the CASE,
// which doubled the cost of an attribute over a million rows.
func (c Condition) nullIsMissing(a string) string {
	switch c.Op {
	case OpExists, OpNotExists, OpIn, OpNotIn:
		return "(CASE WHEN jsonb_typeof(" + a + ") <> 'null' THEN " + a + " END)"
	}
	return a
}

// PayloadSQL compiles c to a boolean predicate over the jsonb SQL expression
// doc (an event's payload): attr is a path into it, a field name such as
// locale being a payload key too. The operators are SQL's, the same ones.
func (c Condition) PayloadSQL(doc string, p Params) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	field, path, _ := c.subject()
	if field != "" {
		path = []string{field}
	}
	return c.opSQL(c.nullIsMissing("("+doc+" #> "+p.Add(pq.Array(path))+"::text[])"), p)
}

// opSQL applies c's operator to a, the subject as jsonb (NULL when missing).
func (c Condition) opSQL(a string, p Params) (string, error) {
	switch c.Op {
	case OpExists:
		return "(" + a + " IS NOT NULL)", nil
	case OpNotExists:
		return "(" + a + " IS NULL)", nil
	case OpEq, OpNe:
		eq := "(" + a + " = " + p.Add(scalarJSON(c.Value)) + "::jsonb)"
		if c.Op == OpEq {
			return "COALESCE(" + eq + ", false)", nil
		}
		return "NOT COALESCE(" + eq + ", false)", nil
	case OpIn, OpNotIn:
		items, _ := listOf(c.Value)
		b, err := json.Marshal(items)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrCondition, err)
		}
		ex := "EXISTS (SELECT 1 FROM jsonb_array_elements(" + p.Add(string(b)) + "::jsonb) AS lv(v) WHERE lv.v = " + a + ")"
		if c.Op == OpIn {
			return ex, nil
		}
		return "NOT " + ex, nil
	case OpContains:
		v := mustScalar(c.Value)
		str := "false"
		if s, ok := v.(string); ok {
			str = "strpos(" + a + " #>> '{}', " + p.Add(s) + "::text) > 0"
		}
		return "COALESCE(CASE jsonb_typeof(" + a + ") WHEN 'string' THEN " + str +
			" WHEN 'array' THEN " + a + " @> jsonb_build_array(" + p.Add(scalarJSON(c.Value)) + "::jsonb) ELSE false END, false)", nil
	}
	cmp := map[Op]string{OpGt: ">", OpGte: ">=", OpLt: "<", OpLte: "<="}[c.Op]
	switch v := mustScalar(c.Value).(type) {
	case float64:
		return "COALESCE(CASE WHEN jsonb_typeof(" + a + ") = 'number' THEN (" + a + ")::numeric " + cmp + " " + p.Add(v) + "::numeric ELSE false END, false)", nil
	default:
		return "COALESCE(CASE WHEN jsonb_typeof(" + a + ") = 'string' THEN (" + a + " #>> '{}') COLLATE \"C\" " + cmp + " " + p.Add(v) + "::text COLLATE \"C\" ELSE false END, false)", nil
	}
}

// normalise turns the numeric types YAML and JSON decoding produce into float64.
func normalise(v any) any {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	case float32:
		return float64(n)
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return v
		}
		return f
	case []string:
		out := make([]any, len(n))
		for i, s := range n {
			out[i] = s
		}
		return out
	}
	return v
}

// scalar returns v normalised when it is a string, a finite number or a boolean.
func scalar(v any) (any, error) {
	switch n := normalise(v).(type) {
	case string, bool:
		return n, nil
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, errors.New("value must be a finite number")
		}
		return n, nil
	case nil:
		return nil, errors.New("needs a value")
	}
	return nil, fmt.Errorf("value must be a string, number or boolean, got %s", valueKind(v))
}

func mustScalar(v any) any { s, _ := scalar(v); return s }

func scalarJSON(v any) string {
	b, _ := json.Marshal(mustScalar(v))
	return string(b)
}

// listOf returns a list value's elements normalised; each must be a scalar.
func listOf(v any) ([]any, error) {
	items, ok := normalise(v).([]any)
	if !ok {
		if v == nil {
			return nil, errors.New("needs a list value, e.g. [ru, en]")
		}
		return nil, fmt.Errorf("value must be a list, got %s", valueKind(v))
	}
	out := make([]any, len(items))
	for i, it := range items {
		s, err := scalar(it)
		if err != nil {
			return nil, fmt.Errorf("value[%d]: %v", i, err)
		}
		out[i] = s
	}
	return out, nil
}

func valueKind(v any) string {
	switch normalise(v).(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	default:
		return fmt.Sprintf("%T", v)
	}
}
