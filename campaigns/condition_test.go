package campaigns

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// params is the Params of a test query.
type params struct{ vals []any }

func (p *params) Add(v any) string {
	p.vals = append(p.vals, v)
	return "$" + strconv.Itoa(len(p.vals))
}

// TestConditionsGoAndSQLAgree runs every case through Condition.Match (the
// worker's branch steps) and Condition.SQL (the scheduler's audiences)
// against subscribers stored in Postgres, and requires both to give the
// expected members. The Go side reads the attributes back from the jsonb
// column and decodes them as the worker does.
func TestConditionsGoAndSQLAgree(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	type row struct {
		ext        *string
		name, loc  string
		zone       string
		attributes string
	}
	str := func(s string) *string { return &s }
	rows := map[string]row{
		"a": {str("a"), "Anna", "ru", "Europe/Moscow", `{"plan": "family", "orders": 5, "vip": true, "tags": ["vegan", "kids"],
			"since": "2025-03-01", "city": "Москва", "address": {"city": "Kazan"}, "nothing": null, "zip": "5", "ratio": 0.1,
			"locale": "de", "big": 12345678901}`},
		"b": {str("b"), "Bob", "en", "Europe/Berlin", `{"plan": "solo", "orders": 1.5, "vip": false, "tags": ["keto"], "since": "2026-01-15",
			"zip": 5, "ratio": 0.30000000000000004}`},
		"c": {str("c"), "", "ru", "Asia/Kolkata", `{"plan": 5, "orders": "7", "tags": "vegan-ish", "vip": "true", "since": 20250301}`},
		"d": {nil, "", "", "", `{}`},
		"e": {str("e"), "Eve", "ru-RU", "America/New_York", `{"tags": [["vegan"], 2, "2"], "address": "Kazan", "orders": -3}`},
	}
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	ids := map[int64]string{}
	subjects := map[string]Subject{}
	var all []int64
	for _, n := range names {
		r := rows[n]
		var id int64
		if err := db.Get(&id, `INSERT INTO subscribers (external_id, name, locale, time_zone, attributes) VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id`,
			r.ext, r.name, r.loc, r.zone, r.attributes); err != nil {
			t.Fatal(err)
		}
		var back struct {
			Ext   *string `db:"external_id"`
			Name  string  `db:"name"`
			Loc   string  `db:"locale"`
			Zone  string  `db:"time_zone"`
			Attrs []byte  `db:"attributes"`
		}
		if err := db.Get(&back, `SELECT external_id, name, locale, time_zone, attributes FROM subscribers WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		s := Subject{Name: back.Name, Locale: back.Loc, TimeZone: back.Zone}
		if back.Ext != nil {
			s.ExternalID = *back.Ext
		}
		if err := json.Unmarshal(back.Attrs, &s.Attributes); err != nil {
			t.Fatal(err)
		}
		ids[id], subjects[n] = n, s
		all = append(all, id)
	}
	everyone := names

	tests := []struct {
		name string
		c    Condition
		want []string
	}{
		{"eq string", Condition{"plan", OpEq, "family"}, []string{"a"}},
		{"eq is typed: number 5 is not the string", Condition{"plan", OpEq, 5}, []string{"c"}},
		{"eq is typed: string 5 is not the number", Condition{"zip", OpEq, "5"}, []string{"a"}},
		{"eq int against float", Condition{"orders", OpEq, 5.0}, []string{"a"}},
		{"eq decimal", Condition{"ratio", OpEq, 0.1}, []string{"a"}},
		{"eq large integer", Condition{"big", OpEq, int64(12345678901)}, []string{"a"}},
		{"eq bool is not the string true", Condition{"vip", OpEq, true}, []string{"a"}},
		{"eq string true is not the bool", Condition{"vip", OpEq, "true"}, []string{"c"}},
		{"eq bool false", Condition{"vip", OpEq, false}, []string{"b"}},
		{"eq unicode", Condition{"city", OpEq, "Москва"}, []string{"a"}},
		{"eq on a list attribute never holds", Condition{"tags", OpEq, "vegan"}, nil},
		{"ne includes missing", Condition{"plan", OpNe, "family"}, []string{"b", "c", "d", "e"}},
		{"ne on null", Condition{"nothing", OpNe, "x"}, everyone},
		{"eq on null never holds", Condition{"nothing", OpEq, "x"}, nil},
		{"eq false on null never holds", Condition{"nothing", OpEq, false}, nil},
		{"gt on null never holds", Condition{"nothing", OpGt, 0}, nil},
		{"lt string on null never holds", Condition{"nothing", OpLt, "z"}, nil},
		{"contains on null never holds", Condition{"nothing", OpContains, "x"}, nil},
		{"not_in includes null", Condition{"nothing", OpNotIn, []any{"x"}}, everyone},
		{"in", Condition{"plan", OpIn, []any{"family", "solo"}}, []string{"a", "b"}},
		{"in is typed", Condition{"plan", OpIn, []any{5, "nope"}}, []string{"c"}},
		{"in []string", Condition{"plan", OpIn, []string{"solo"}}, []string{"b"}},
		{"in with a bool", Condition{"vip", OpIn, []any{false, "x"}}, []string{"b"}},
		{"not_in includes missing", Condition{"plan", OpNotIn, []any{"family", "solo"}}, []string{"c", "d", "e"}},
		{"gt number skips strings", Condition{"orders", OpGt, 1}, []string{"a", "b"}},
		{"gte number", Condition{"orders", OpGte, 5}, []string{"a"}},
		{"lt number, negative", Condition{"orders", OpLt, 5}, []string{"b", "e"}},
		{"lte float", Condition{"orders", OpLte, 1.5}, []string{"b", "e"}},
		{"gt string compares strings only", Condition{"orders", OpGt, "0"}, []string{"c"}},
		{"gt ISO date", Condition{"since", OpGt, "2025-12-31"}, []string{"b"}},
		{"lte ISO date, equal", Condition{"since", OpLte, "2025-03-01"}, []string{"a"}},
		{"gt number against a date-like number", Condition{"since", OpGt, 20000000}, []string{"c"}},
		{"lt on a bool attribute never holds", Condition{"vip", OpLt, "z"}, []string{"c"}},
		{"gt byte order, not locale order", Condition{"city", OpGt, "Z"}, []string{"a"}},
		{"exists", Condition{"tags", OpExists, nil}, []string{"a", "b", "c", "e"}},
		{"exists: null is missing", Condition{"nothing", OpExists, nil}, nil},
		{"not_exists: null and missing", Condition{"nothing", OpNotExists, nil}, everyone},
		{"not_exists", Condition{"plan", OpNotExists, nil}, []string{"d", "e"}},
		{"contains list element", Condition{"tags", OpContains, "kids"}, []string{"a"}},
		{"contains element or substring", Condition{"tags", OpContains, "vegan"}, []string{"a", "c"}},
		{"contains substring", Condition{"tags", OpContains, "ish"}, []string{"c"}},
		{"contains number element is typed", Condition{"tags", OpContains, 2}, []string{"e"}},
		{"contains string element is typed", Condition{"tags", OpContains, "2"}, []string{"e"}},
		{"contains on a number never holds", Condition{"orders", OpContains, 5}, nil},
		{"contains a number in a string never holds", Condition{"zip", OpContains, 5}, nil},
		{"nested path", Condition{"address.city", OpEq, "Kazan"}, []string{"a"}},
		{"nested path through a string is missing", Condition{"address.city", OpNotExists, nil}, []string{"b", "c", "d", "e"}},
		{"attributes. prefix", Condition{"attributes.plan", OpEq, "solo"}, []string{"b"}},
		{"attributes. prefix reaches an attribute named like a field", Condition{"attributes.locale", OpEq, "de"}, []string{"a"}},
		{"field locale", Condition{"locale", OpEq, "en"}, []string{"b"}},
		{"field locale empty is missing", Condition{"locale", OpNotExists, nil}, []string{"d"}},
		{"field locale ne includes empty", Condition{"locale", OpNe, "ru"}, []string{"b", "d", "e"}},
		{"field locale contains", Condition{"locale", OpContains, "ru"}, []string{"a", "c", "e"}},
		{"field time_zone in", Condition{"time_zone", OpIn, []any{"Asia/Kolkata", "Europe/Berlin"}}, []string{"b", "c"}},
		{"field time_zone not_in", Condition{"time_zone", OpNotIn, []string{"Asia/Kolkata"}}, []string{"a", "b", "d", "e"}},
		{"field time_zone lt", Condition{"time_zone", OpLt, "B"}, []string{"c", "e"}},
		{"field name exists", Condition{"name", OpExists, nil}, []string{"a", "b", "e"}},
		{"field external_id NULL is missing", Condition{"external_id", OpNotExists, nil}, []string{"d"}},
		{"field external_id eq", Condition{"external_id", OpEq, "e"}, []string{"e"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var goGot []string
			for _, n := range names {
				ok, err := tc.c.Match(subjects[n])
				if err != nil {
					t.Fatalf("Match: %v", err)
				}
				if ok {
					goGot = append(goGot, n)
				}
			}
			p := &params{}
			pred, err := tc.c.SQL("s", p)
			if err != nil {
				t.Fatalf("SQL: %v", err)
			}
			var matched []int64
			if err := db.Select(&matched, `SELECT s.id FROM subscribers s WHERE s.id = ANY(`+p.Add(pq.Array(all))+`) AND `+pred, p.vals...); err != nil {
				t.Fatalf("query: %v\n%s", err, pred)
			}
			var sqlGot []string
			for _, id := range matched {
				sqlGot = append(sqlGot, ids[id])
			}
			sort.Strings(sqlGot)
			if !slices.Equal(goGot, tc.want) || !slices.Equal(sqlGot, tc.want) {
				t.Fatalf("want %v; Go %v, SQL %v\n%s", tc.want, goGot, sqlGot, pred)
			}
		})
	}
}

// TestConditionInvalid: Validate, Match and SQL refuse the same conditions
// with the same error, naming the problem.
func TestConditionInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c   Condition
		msg string
	}{
		{Condition{"a", "like", "x"}, `unknown op "like"`},
		{Condition{"a", "", nil}, "op is required"},
		{Condition{"", OpEq, 1}, "attr is required"},
		{Condition{"attributes.", OpExists, nil}, "names no attribute"},
		{Condition{"a..b", OpExists, nil}, "empty part"},
		{Condition{"items.0", OpExists, nil}, "list index"},
		{Condition{"a", OpEq, nil}, "needs a value"},
		{Condition{"a", OpIn, "x"}, "must be a list"},
		{Condition{"a", OpIn, []any{"x", []any{1}}}, "value[1]"},
		{Condition{"a", OpEq, map[string]any{"k": 1}}, "a map"},
		{Condition{"a", OpGt, true}, "number or a string"},
		{Condition{"a", OpExists, 1}, "takes no value"},
		{Condition{"locale", OpEq, 1}, "needs a string"},
		{Condition{"time_zone", OpGt, 3}, "needs a string"},
		{Condition{"locale", OpIn, []any{"ru", 1}}, "value[1] must be a string"},
	}
	for _, tc := range tests {
		errs := []error{tc.c.Validate()}
		_, err := tc.c.Match(Subject{})
		errs = append(errs, err)
		_, err = tc.c.SQL("s", &params{})
		errs = append(errs, err)
		for _, err := range errs {
			if !errors.Is(err, ErrCondition) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%+v: err = %v, want ErrCondition containing %q", tc.c, err, tc.msg)
			}
		}
	}
}
