package campaigns

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Fields declares named values a campaign's templates read (subscriber
// attributes, a trigger's payload): name → type. A type is one of
// FieldTypes, a mapping of named fields (an object), or a one-element list
// holding the type of the items:
//
//	order_id: string
//	total: number
//	paid_at: time
//	receipt_url: url
//	items:
//	  - {name: string, qty: number, price: number}
//
// Lint renders every template against Sample, so a misspelt or undeclared
// name is reported before a version is applied.
type Fields map[string]any

// FieldTypes lists the scalar field types and what Sample puts there.
var FieldTypes = []struct{ Name, Doc string }{
	{"string", "text; the sample is the field's name"},
	{"number", "a JSON number; the sample is 1"},
	{"boolean", "true or false; the sample is true"},
	{"time", "an RFC 3339 time (for date, time, datetime); the sample is SampleTime"},
	{"url", "an absolute http(s) URL (for link buttons and images); the sample is https://example.com/<name>"},
}

// SampleTime is the time lint renders templates at, and the sample of a time field.
var SampleTime = time.Date(2026, time.March, 9, 9, 30, 0, 0, time.UTC)

func fieldTypeNames() []string {
	out := make([]string, len(FieldTypes))
	for i, t := range FieldTypes {
		out[i] = t.Name
	}
	return out
}

// Validate checks every declared type; the error names the field.
func (fs Fields) Validate() error {
	for _, name := range sortedKeys(fs) {
		if err := validateType(name, fs[name]); err != nil {
			return err
		}
	}
	return nil
}

func validateType(path string, t any) error {
	switch x := t.(type) {
	case string:
		for _, n := range fieldTypeNames() {
			if x == n {
				return nil
			}
		}
		hint := ""
		if s := suggest(x, fieldTypeNames()); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		return fmt.Errorf("%s: unknown type %q%s; use one of %s, a mapping of fields, or a one-item list", path, x, hint, strings.Join(fieldTypeNames(), ", "))
	case map[string]any:
		if len(x) == 0 {
			return fmt.Errorf("%s: an object needs at least one field", path)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := validateType(path+"."+k, x[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if len(x) != 1 {
			return fmt.Errorf("%s: a list type holds exactly one item, the type of its elements (e.g. [string])", path)
		}
		return validateType(path+"[]", x[0])
	case nil:
		return fmt.Errorf("%s: type is missing; use one of %s", path, strings.Join(fieldTypeNames(), ", "))
	}
	return fmt.Errorf("%s: a type is a name (%s), a mapping or a one-item list, got %v", path, strings.Join(fieldTypeNames(), ", "), t)
}

// Sample returns a value of every declared field, shaped as JSON decoding
// gives it at run time (numbers float64, times RFC 3339 strings). Invalid
// types are left out (Validate reports them).
func (fs Fields) Sample() map[string]any {
	out := make(map[string]any, len(fs))
	for k, t := range fs {
		if v, ok := sampleOf(k, t); ok {
			out[k] = v
		}
	}
	return out
}

func sampleOf(name string, t any) (any, bool) {
	switch x := t.(type) {
	case string:
		switch x {
		case "string":
			return name, true
		case "number":
			return 1.0, true
		case "boolean":
			return true, true
		case "time":
			return SampleTime.Format(time.RFC3339), true
		case "url":
			return "https://example.com/" + name, true
		}
	case map[string]any:
		return Fields(x).Sample(), true
	case []any:
		if len(x) == 1 {
			if v, ok := sampleOf(name, x[0]); ok {
				return []any{v}, true
			}
		}
	}
	return nil, false
}

// Sample is what lint renders a campaign's templates against.
type Sample struct {
	Attributes map[string]any // the declared attributes
	Payload    map[string]any // the trigger's declared payload, plus the run context's "trigger"
	Now        time.Time
}

// Sample returns the sample of d: its declared attributes, and as .Payload
// what the worker gives templates: the run context the trigger creates
// ("trigger"; "event" for an event trigger, "occurrence" for a schedule)
// with the trigger's declared payload on top.
func (d *Definition) Sample() Sample {
	s := Sample{Attributes: d.Attributes.Sample(), Payload: map[string]any{}, Now: SampleTime}
	var payload Fields
	switch t := d.Trigger; {
	case t.Event != nil:
		payload = t.Event.Payload
		s.Payload["trigger"] = "event"
		s.Payload["event"] = map[string]any{"id": 1.0, "name": t.Event.Name, "occurred_at": SampleTime.Format(time.RFC3339)}
	case t.API != nil:
		payload = t.API.Payload
		s.Payload["trigger"] = "api"
	case t.Schedule != nil:
		s.Payload["trigger"] = "schedule"
		s.Payload["occurrence"] = map[string]any{"wall_time": SampleTime.Format("2006-01-02T15:04"), "time_zone": t.Schedule.Timezone}
	}
	for k, v := range payload.Sample() {
		s.Payload[k] = v
	}
	return s
}
