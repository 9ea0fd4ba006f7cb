package scheduler

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/httpx"
)

// Cron specs come from campaign files: no spec may panic, and occurrences
// come out ordered, inside the window, with wall times the spec matches.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 18 * * 5", "*/15 9-17 * * mon-fri", "@daily", "30 2 * * *", "0 0 29 2 *", "@every 5m", "* * * * * *", "0 0 31 4 *"} {
		f.Add(s, int64(1793000000), uint8(0))
	}
	zones := []string{"America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe", "UTC", "Pacific/Chatham"}
	f.Fuzz(func(t *testing.T, spec string, startUnix int64, zone uint8) {
		sched, err := campaigns.ParseCron(spec)
		if err != nil {
			return
		}
		loc, err := time.LoadLocation(zones[int(zone)%len(zones)])
		if err != nil {
			t.Fatal(err)
		}
		from := time.Unix(startUnix%(4_000_000_000), 0)
		to := from.Add(3 * 24 * time.Hour)
		prev := from
		for _, o := range Occurrences(sched, loc, from, to) {
			if !o.At.After(from) || o.At.After(to) || o.At.Before(prev) {
				t.Fatalf("occurrence %s at %s outside (%s, %s] or out of order", o.Key(), o.At, from, to)
			}
			if !sched.Next(o.Wall.Add(-time.Second)).Equal(o.Wall) {
				t.Fatalf("wall %s is not an occurrence of %q", o.Wall, spec)
			}
			prev = o.At
		}
	})
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// Audience conditions come from campaign files: nothing may panic, and no
// attribute name or value ever reaches the SQL text.
func FuzzAudienceWhere(f *testing.F) {
	f.Add("plan", "eq", `"family"`)
	f.Add("orders", "gt", `5`)
	f.Add("tags", "in", `["a","b'"]`)
	f.Add("x'); DROP TABLE subscribers; --", "exists", `null`)
	f.Add("locale", "not_in", `["ru","en"]`)
	f.Add("time_zone", "contains", `"Europe/"`)
	f.Add("attributes.", "eq", `{"a":1}`)
	f.Fuzz(func(t *testing.T, attr, op, value string) {
		var v any
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			v = value
		}
		build := func(attr string, v any) (string, *Args, error) {
			args := &Args{}
			where, err := AudienceWhere(campaigns.Audience{
				Where:    []campaigns.Condition{{Attr: attr, Op: campaigns.Op(op), Value: v}},
				HasEvent: []campaigns.EventFilter{{Name: attr}},
			}, AudienceTarget{Topic: campaigns.TopicMarketing, Channels: []string{attr}, Now: time.Unix(1793000000, 0)}, args)
			return where, args, err
		}
		where, args, err := build(attr, v)
		// The SQL text depends only on the op and the value's JSON type:
		// the same condition with a harmless name and value gives the same text.
		safeWhere, _, safeErr := build(benignAttr(attr), benignValue(v))
		if (err == nil) != (safeErr == nil) {
			t.Fatalf("error differs for %q/%v: %v vs %v", attr, v, err, safeErr)
		}
		if err != nil {
			return
		}
		if where != safeWhere {
			t.Fatalf("input reached the SQL:\n%s\nvs\n%s", where, safeWhere)
		}
		used := map[int]bool{}
		for _, m := range placeholder.FindAllStringSubmatch(where, -1) {
			n, _ := strconv.Atoi(m[1])
			if n < 1 || n > len(args.Values()) {
				t.Fatalf("placeholder $%d with %d args: %s", n, len(args.Values()), where)
			}
			used[n] = true
		}
		if len(used) != len(args.Values()) {
			t.Fatalf("%d of %d args used: %s", len(used), len(args.Values()), where)
		}
	})
}

func benignAttr(a string) string {
	if slices.Contains(campaigns.FieldNames(), a) {
		return a
	}
	// Keep the path's shape (parts, empty parts, list indexes): only the
	// names may differ.
	prefix, rest := "", a
	if strings.HasPrefix(a, campaigns.AttrPrefix) {
		prefix, rest = campaigns.AttrPrefix, strings.TrimPrefix(a, campaigns.AttrPrefix)
	}
	if rest == "" {
		return a
	}
	parts := strings.Split(rest, ".")
	for i, p := range parts {
		if _, err := strconv.Atoi(p); p != "" && err != nil {
			parts[i] = "a"
		}
	}
	return prefix + strings.Join(parts, ".")
}

func benignValue(v any) any {
	switch x := v.(type) {
	case string:
		return "x"
	case float64:
		return 1.0
	case bool:
		return true
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = benignValue(e)
		}
		return out
	case map[string]any:
		return map[string]any{}
	default:
		return v
	}
}

// Trigger API input (body and Idempotency-Key): decoding and key checks never
// panic, and the request hash ignores JSON formatting.
func FuzzTriggerRequest(f *testing.F) {
	f.Add(`{"subscriber":"cust-1","payload":{"order_id":"A-17","total":1290.5}}`, "order-A-17")
	f.Add(`{"subscriber":"","payload":null}`, "")
	f.Add(`{"subscriber":"x","payload":{"a":[1,{"b":"\u0000"}]}}`, "k k")
	f.Add(`[]`, "\xff")
	f.Fuzz(func(t *testing.T, body, key string) {
		_ = checkKey(key)
		r := httptest.NewRequest("POST", "/v1/campaigns/c/trigger", strings.NewReader(body))
		var req TriggerRequest
		if err := httpx.DecodeJSON(httptest.NewRecorder(), r, httpx.MaxBody, &req); err != nil {
			return
		}
		h1, err := requestHash("c", req)
		if err != nil {
			return
		}
		re, _ := json.MarshalIndent(req, "", "   ")
		var again TriggerRequest
		if err := json.Unmarshal(re, &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		h2, _ := requestHash("c", again)
		if h1 != h2 {
			t.Fatalf("hash changed after re-encoding %s", re)
		}
	})
}
