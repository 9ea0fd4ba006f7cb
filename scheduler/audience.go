package scheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/consent"
)

// ErrAudience is wrapped by every audience definition error.
var ErrAudience = errors.New("invalid audience")

// Args collects positional query parameters; Add returns the placeholder.
type Args struct{ vals []any }

// Add appends v and returns its placeholder ($n).
func (a *Args) Add(v any) string {
	a.vals = append(a.vals, v)
	return "$" + strconv.Itoa(len(a.vals))
}

// Values returns the collected parameters in placeholder order.
func (a *Args) Values() []any { return a.vals }

// AudienceTarget is what an audience is evaluated for: the consent topic the
// subscriber must hold on at least one of Channels, and Now for event windows.
type AudienceTarget struct {
	Topic    campaigns.Topic
	Channels []string
	Now      time.Time
}

// AudienceWhere returns a boolean SQL predicate over the subscribers row
// aliased "s" that holds for the members of aud. Every value and every
// attribute name goes through args; nothing from the definition is spliced
// into the SQL text. Erased subscribers never match.
func AudienceWhere(aud campaigns.Audience, t AudienceTarget, args *Args) (string, error) {
	parts := []string{"s.erased_at IS NULL"}
	topic := aud.Consent
	if topic == "" {
		topic = t.Topic
	}
	switch topic {
	case campaigns.TopicService, campaigns.TopicMarketing:
	default:
		return "", fmt.Errorf("%w: consent topic %q is not service or marketing", ErrAudience, topic)
	}
	parts = append(parts, consentSQL(topic, t.Channels, args))
	for i, c := range aud.Where {
		p, err := conditionSQL(c, args)
		if err != nil {
			return "", fmt.Errorf("%w: where[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, p)
	}
	for i, f := range aud.HasEvent {
		p, err := eventSQL(f, t.Now, args)
		if err != nil {
			return "", fmt.Errorf("%w: has_event[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, "EXISTS ("+p+")")
	}
	for i, f := range aud.NoEvent {
		p, err := eventSQL(f, t.Now, args)
		if err != nil {
			return "", fmt.Errorf("%w: no_event[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, "NOT EXISTS ("+p+")")
	}
	return "(" + strings.Join(parts, "\n   AND ") + ")", nil
}

// consentSQL: the subscriber consents to topic on at least one channel of
// chans, or on any channel when none is listed (consent.AudienceSQL).
func consentSQL(topic campaigns.Topic, chans []string, args *Args) string {
	tp, anyOf := args.Add(string(topic)), ""
	if len(chans) > 0 {
		anyOf = args.Add(pq.Array(chans))
	}
	return consent.AudienceSQL("s.id", anyOf, tp)
}

func eventSQL(f campaigns.EventFilter, now time.Time, args *Args) (string, error) {
	if f.Name == "" {
		return "", errors.New("name is required")
	}
	q := "SELECT 1 FROM subscriber_events ev WHERE ev.subscriber_id = s.id AND ev.name = " + args.Add(f.Name)
	if f.Within > 0 {
		if now.IsZero() {
			return "", errors.New("within needs the current time")
		}
		q += " AND ev.occurred_at >= " + args.Add(now.Add(-f.Within.D()))
	}
	return q, nil
}

// Ops lists the condition operators.
var Ops = []string{"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "not_exists", "contains"}

// columns are the subscriber fields a condition may name besides attributes.
var columns = map[string]string{"locale": "s.locale", "time_zone": "s.time_zone"}

// conditionSQL compiles one condition. Attribute conditions compare jsonb
// values typed: a number only equals or orders against a number, a string
// against a string (byte order, so ISO dates like 2026-11-27 order
// correctly), a boolean against a boolean. A missing attribute matches ne,
// not_in and not_exists only.
func conditionSQL(c campaigns.Condition, args *Args) (string, error) {
	if c.Attr == "" {
		return "", errors.New("attr is required")
	}
	attr := c.Attr
	if col, ok := columns[attr]; ok {
		return columnSQL(col, c, args)
	}
	attr = strings.TrimPrefix(attr, "attributes.")
	if attr == "" {
		return "", errors.New("attr is empty after the attributes. prefix")
	}
	a := "(s.attributes -> " + args.Add(attr) + "::text)"
	switch c.Op {
	case "exists", "not_exists":
		if c.Value != nil {
			return "", fmt.Errorf("op %s takes no value", c.Op)
		}
		if c.Op == "exists" {
			return a + " IS NOT NULL", nil
		}
		return a + " IS NULL", nil
	case "eq", "ne":
		v, err := scalarJSON(c.Value)
		if err != nil {
			return "", err
		}
		p := args.Add(v) + "::jsonb"
		if c.Op == "eq" {
			return "(" + a + " = " + p + ")", nil
		}
		return "(" + a + " IS DISTINCT FROM " + p + ")", nil
	case "in", "not_in":
		list, err := listJSON(c.Value)
		if err != nil {
			return "", err
		}
		ex := "EXISTS (SELECT 1 FROM jsonb_array_elements(" + args.Add(list) + "::jsonb) AS lv(v) WHERE lv.v = " + a + ")"
		if c.Op == "in" {
			return ex, nil
		}
		return "NOT " + ex, nil
	case "gt", "gte", "lt", "lte":
		cmp := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[c.Op]
		switch v := normalise(c.Value).(type) {
		case float64:
			return "(CASE WHEN jsonb_typeof(" + a + ") = 'number' THEN (" + a + ")::numeric " + cmp + " " + args.Add(v) + "::numeric ELSE false END)", nil
		case string:
			return "(CASE WHEN jsonb_typeof(" + a + ") = 'string' THEN (" + a + " #>> '{}') COLLATE \"C\" " + cmp + " " + args.Add(v) + "::text COLLATE \"C\" ELSE false END)", nil
		default:
			return "", fmt.Errorf("op %s needs a number or a string value, got %s", c.Op, typeName(c.Value))
		}
	case "contains":
		// A string attribute contains a substring; an array attribute contains an element.
		v, err := scalarJSON(c.Value)
		if err != nil {
			return "", err
		}
		p := args.Add(v) + "::jsonb"
		str := "false"
		if s, ok := c.Value.(string); ok {
			str = "strpos(" + a + " #>> '{}', " + args.Add(s) + "::text) > 0"
		}
		return "(CASE jsonb_typeof(" + a + ") WHEN 'string' THEN " + str +
			" WHEN 'array' THEN " + a + " @> jsonb_build_array(" + p + ") ELSE false END)", nil
	case "":
		return "", errors.New("op is required")
	default:
		return "", fmt.Errorf("unknown op %q (use one of %s)", c.Op, strings.Join(Ops, ", "))
	}
}

// columnSQL compiles a condition on a text column (locale, time_zone).
func columnSQL(col string, c campaigns.Condition, args *Args) (string, error) {
	str := func() (string, error) {
		s, ok := c.Value.(string)
		if !ok {
			return "", fmt.Errorf("%s %s needs a string value, got %s", c.Attr, c.Op, typeName(c.Value))
		}
		return args.Add(s) + "::text", nil
	}
	switch c.Op {
	case "exists":
		return "(" + col + " <> '')", nil
	case "not_exists":
		return "(" + col + " = '')", nil
	case "eq", "ne", "gt", "gte", "lt", "lte":
		p, err := str()
		if err != nil {
			return "", err
		}
		cmp := map[string]string{"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[c.Op]
		return "(" + col + " COLLATE \"C\" " + cmp + " " + p + " COLLATE \"C\")", nil
	case "contains":
		p, err := str()
		if err != nil {
			return "", err
		}
		return "(strpos(" + col + ", " + p + ") > 0)", nil
	case "in", "not_in":
		raw, ok := c.Value.([]any)
		if !ok {
			if ss, ok2 := c.Value.([]string); ok2 {
				for _, s := range ss {
					raw = append(raw, s)
				}
			} else {
				return "", fmt.Errorf("%s %s needs a list of strings, got %s", c.Attr, c.Op, typeName(c.Value))
			}
		}
		list := make([]string, 0, len(raw))
		for i, v := range raw {
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s %s: value[%d] must be a string, got %s", c.Attr, c.Op, i, typeName(v))
			}
			list = append(list, s)
		}
		p := args.Add(pq.Array(list)) + "::text[]"
		if c.Op == "in" {
			return "(" + col + " = ANY(" + p + "))", nil
		}
		return "(" + col + " <> ALL(" + p + "))", nil
	case "":
		return "", errors.New("op is required")
	default:
		return "", fmt.Errorf("unknown op %q (use one of %s)", c.Op, strings.Join(Ops, ", "))
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
	case float64:
		return n
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return v
		}
		return f
	}
	return v
}

func scalarJSON(v any) (string, error) {
	switch n := normalise(v).(type) {
	case string, bool, nil:
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return "", errors.New("value must be a finite number")
		}
	default:
		return "", fmt.Errorf("value must be a string, number, boolean or null, got %s", typeName(v))
	}
	b, err := json.Marshal(normalise(v))
	if err != nil {
		return "", fmt.Errorf("value: %w", err)
	}
	return string(b), nil
}

func listJSON(v any) (string, error) {
	var items []any
	switch l := v.(type) {
	case []any:
		items = l
	case []string:
		for _, s := range l {
			items = append(items, s)
		}
	default:
		return "", fmt.Errorf("value must be a list, got %s", typeName(v))
	}
	out := make([]json.RawMessage, 0, len(items))
	for i, it := range items {
		s, err := scalarJSON(it)
		if err != nil {
			return "", fmt.Errorf("value[%d]: %v", i, err)
		}
		out = append(out, json.RawMessage(s))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func typeName(v any) string {
	switch normalise(v).(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a map"
	default:
		return fmt.Sprintf("%T", v)
	}
}
