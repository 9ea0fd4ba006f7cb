package scheduler

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
)

// audienceMembers evaluates aud and returns the matching external ids.
func audienceMembers(t *testing.T, f fixture, aud campaigns.Audience, tg AudienceTarget) []string {
	t.Helper()
	args := &Args{}
	where, err := AudienceWhere(aud, tg, args)
	if err != nil {
		t.Fatalf("AudienceWhere: %v", err)
	}
	var ids []string
	if err := f.db.Select(&ids, `SELECT s.external_id FROM subscribers s WHERE `+where+` ORDER BY 1`, args.Values()...); err != nil {
		t.Fatalf("query: %v\n%s", err, where)
	}
	return ids
}

func TestAudienceConditions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	add := func(s sub) int64 {
		id := f.subscriber(s)
		f.consent(id, "telegram", "marketing", true)
		return id
	}
	a := add(sub{ext: "a", locale: "ru", zone: "Europe/Moscow", attrs: map[string]any{"plan": "family", "orders": 5, "vip": true, "tags": []any{"vegan", "kids"}, "since": "2025-03-01", "city": "Москва"}})
	b := add(sub{ext: "b", locale: "en", zone: "Europe/Berlin", attrs: map[string]any{"plan": "solo", "orders": 1.5, "vip": false, "tags": []any{"keto"}, "since": "2026-01-15"}})
	add(sub{ext: "c", locale: "ru", zone: "Asia/Kolkata", attrs: map[string]any{"plan": 5, "orders": "7", "tags": "vegan-ish"}})
	add(sub{ext: "d", locale: "ru", zone: "America/New_York", attrs: map[string]any{}})
	add(sub{ext: "erased", attrs: map[string]any{"plan": "family", "orders": 5}, erased: true})
	nc := f.subscriber(sub{ext: "noconsent", attrs: map[string]any{"plan": "family"}})
	f.consent(nc, "viber", "marketing", true) // a channel the campaign does not use
	f.event(a, "order.delivered", now.Add(-2*24*time.Hour), "")
	f.event(b, "order.delivered", now.Add(-40*24*time.Hour), "")
	f.event(b, "app.opened", now.Add(-time.Hour), "")

	tg := AudienceTarget{Topic: campaigns.TopicMarketing, Channels: []string{"telegram", "sms"}, Now: now}
	w := func(attr string, op campaigns.Op, v any) campaigns.Audience {
		return campaigns.Audience{Where: []campaigns.Condition{{Attr: attr, Op: op, Value: v}}}
	}
	tests := []struct {
		name string
		aud  campaigns.Audience
		want []string
	}{
		{"everyone with consent", campaigns.Audience{}, []string{"a", "b", "c", "d"}},
		{"eq string", w("plan", "eq", "family"), []string{"a"}},
		{"eq is typed: number 5 is not string", w("plan", "eq", 5), []string{"c"}},
		{"eq number int vs float", w("orders", "eq", 5.0), []string{"a"}},
		{"eq bool", w("vip", "eq", true), []string{"a"}},
		{"eq unicode", w("city", "eq", "Москва"), []string{"a"}},
		{"ne includes missing", w("plan", "ne", "family"), []string{"b", "c", "d"}},
		{"in", w("plan", "in", []any{"family", "solo"}), []string{"a", "b"}},
		{"in typed", w("plan", "in", []any{5, "nope"}), []string{"c"}},
		{"not_in", w("plan", "not_in", []any{"family", "solo"}), []string{"c", "d"}},
		{"gt number skips strings", w("orders", "gt", 1), []string{"a", "b"}},
		{"gte number", w("orders", "gte", 5), []string{"a"}},
		{"lt number", w("orders", "lt", 5), []string{"b"}},
		{"lte number", w("orders", "lte", 1.5), []string{"b"}},
		{"gt string ISO date", w("since", "gt", "2025-12-31"), []string{"b"}},
		{"lte string ISO date", w("since", "lte", "2025-03-01"), []string{"a"}},
		{"exists", w("tags", "exists", nil), []string{"a", "b", "c"}},
		{"not_exists", w("tags", "not_exists", nil), []string{"d"}},
		{"contains: array element or substring", w("tags", "contains", "vegan"), []string{"a", "c"}},
		{"contains array element only", w("tags", "contains", "kids"), []string{"a"}},
		{"contains substring", w("tags", "contains", "ish"), []string{"c"}},
		{"locale eq", w("locale", "eq", "en"), []string{"b"}},
		{"locale ne", w("locale", "ne", "en"), []string{"a", "c", "d"}},
		{"time_zone in", w("time_zone", "in", []any{"Asia/Kolkata", "Europe/Berlin"}), []string{"b", "c"}},
		{"time_zone not_in", w("time_zone", "not_in", []string{"Asia/Kolkata"}), []string{"a", "b", "d"}},
		{"time_zone contains", w("time_zone", "contains", "Europe/"), []string{"a", "b"}},
		{"attributes. prefix reaches an attribute named like a column", w("attributes.locale", "exists", nil), nil},
		{"has_event ever", campaigns.Audience{HasEvent: []campaigns.EventFilter{{Name: "order.delivered"}}}, []string{"a", "b"}},
		{"has_event within 7d", campaigns.Audience{HasEvent: []campaigns.EventFilter{{Name: "order.delivered", Within: campaigns.Duration(7 * 24 * time.Hour)}}}, []string{"a"}},
		{"no_event within 7d", campaigns.Audience{NoEvent: []campaigns.EventFilter{{Name: "order.delivered", Within: campaigns.Duration(7 * 24 * time.Hour)}}}, []string{"b", "c", "d"}},
		{"all conditions hold", campaigns.Audience{
			Where:    []campaigns.Condition{{Attr: "orders", Op: "gt", Value: 0}, {Attr: "locale", Op: "eq", Value: "en"}},
			HasEvent: []campaigns.EventFilter{{Name: "app.opened", Within: campaigns.Duration(24 * time.Hour)}},
		}, []string{"b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := audienceMembers(t, f, tc.aud, tg)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAudienceConsent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Now()
	type grant struct {
		channel, topic string
		granted        bool
	}
	for _, s := range []struct {
		ext    string
		events []grant // in order
	}{
		{"tg", []grant{{"telegram", "marketing", true}}},
		{"star", []grant{{"*", "marketing", true}}},
		// telegram revoked after all channels: sms, which the campaign also uses, stays granted
		{"star-rev-tg", []grant{{"*", "marketing", true}, {"telegram", "marketing", false}}},
		{"rev-all", []grant{{"telegram", "marketing", true}, {"*", "marketing", false}}},
		{"svc", []grant{{"telegram", "service", true}}},
		{"again", []grant{{"sms", "marketing", false}, {"sms", "marketing", true}}},
	} {
		id := f.subscriber(sub{ext: s.ext})
		for _, g := range s.events {
			f.consent(id, g.channel, g.topic, g.granted)
		}
	}

	tests := []struct {
		name string
		aud  campaigns.Audience
		tg   AudienceTarget
		want []string
	}{
		{"marketing on telegram or sms", campaigns.Audience{}, AudienceTarget{Topic: "marketing", Channels: []string{"telegram", "sms"}, Now: now},
			[]string{"again", "star", "star-rev-tg", "tg"}},
		{"marketing on telegram only", campaigns.Audience{}, AudienceTarget{Topic: "marketing", Channels: []string{"telegram"}, Now: now},
			[]string{"star", "tg"}},
		{"audience consent overrides topic", campaigns.Audience{Consent: "service"}, AudienceTarget{Topic: "marketing", Channels: []string{"telegram"}, Now: now},
			[]string{"svc"}},
		{"no channels: any current grant", campaigns.Audience{}, AudienceTarget{Topic: "marketing", Now: now},
			[]string{"again", "star", "star-rev-tg", "tg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := audienceMembers(t, f, tc.aud, tc.tg)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAudienceInjection(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.subscriber(sub{ext: "x", attrs: map[string]any{"a'b": "v", `x"); DROP TABLE subscribers; --`: "y", "plan": "p"}})
	f.consent(id, "telegram", "marketing", true)
	tg := AudienceTarget{Topic: "marketing", Channels: []string{"telegram"}, Now: time.Now()}
	evil := []string{
		`plan'); DROP TABLE subscribers; --`,
		`a'b`,
		`x"); DROP TABLE subscribers; --`,
		`$1`, `' OR '1'='1`, "\x00", `\`, `attributes.'--`,
	}
	for _, name := range evil {
		for _, op := range []campaigns.Op{"eq", "exists", "contains", "gt", "in"} {
			var v any = `' OR '1'='1`
			switch op {
			case "exists":
				v = nil
			case "in":
				v = []any{`'); DELETE FROM subscribers; --`, `' OR 1=1 --`}
			}
			args := &Args{}
			where, err := AudienceWhere(campaigns.Audience{Where: []campaigns.Condition{{Attr: name, Op: op, Value: v}}}, tg, args)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(where, "DROP") || strings.Contains(where, "DELETE") || strings.Contains(where, "1=1") {
				t.Fatalf("value spliced into SQL: %s", where)
			}
			var ids []string
			err = f.db.Select(&ids, `SELECT s.external_id FROM subscribers s WHERE `+where, args.Values()...)
			if err != nil && !strings.Contains(err.Error(), "invalid byte sequence") && !strings.Contains(err.Error(), "0x00") {
				t.Fatalf("attr %q op %s: %v", name, op, err)
			}
			// exists, and gt of the strings "v" and "y" against "'…", match the two real keys.
			wantMatch := (op == "exists" || op == "gt") && (name == `a'b` || name == `x"); DROP TABLE subscribers; --`)
			if (len(ids) == 1) != wantMatch {
				t.Fatalf("attr %q op %s: matched %v", name, op, ids)
			}
		}
	}
	f.wantCount("subscribers", 1, `SELECT count(*) FROM subscribers`)
}

func TestAudienceErrors(t *testing.T) {
	t.Parallel()
	tg := AudienceTarget{Topic: "marketing", Now: time.Now()}
	tests := []struct {
		name string
		aud  campaigns.Audience
		tg   AudienceTarget
		msg  string
	}{
		{"unknown op", campaigns.Audience{Where: []campaigns.Condition{{Attr: "a", Op: "like", Value: "x"}}}, tg, `unknown op "like"`},
		{"missing op", campaigns.Audience{Where: []campaigns.Condition{{Attr: "a"}}}, tg, "op is required"},
		{"missing attr", campaigns.Audience{Where: []campaigns.Condition{{Op: "eq", Value: 1}}}, tg, "attr is required"},
		{"in needs list", campaigns.Audience{Where: []campaigns.Condition{{Attr: "a", Op: "in", Value: "x"}}}, tg, "must be a list"},
		{"eq with a map", campaigns.Audience{Where: []campaigns.Condition{{Attr: "a", Op: "eq", Value: map[string]any{"k": 1}}}}, tg, "a map"},
		{"gt with bool", campaigns.Audience{Where: []campaigns.Condition{{Attr: "a", Op: "gt", Value: true}}}, tg, "number or a string"},
		{"exists with value", campaigns.Audience{Where: []campaigns.Condition{{Attr: "a", Op: "exists", Value: 1}}}, tg, "takes no value"},
		{"locale needs string", campaigns.Audience{Where: []campaigns.Condition{{Attr: "locale", Op: "eq", Value: 1}}}, tg, "needs a string"},
		{"event name", campaigns.Audience{HasEvent: []campaigns.EventFilter{{}}}, tg, "name is required"},
		{"topic", campaigns.Audience{}, AudienceTarget{Topic: "spam"}, "not service or marketing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AudienceWhere(tc.aud, tc.tg, &Args{})
			if !errors.Is(err, ErrAudience) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrAudience containing %q", err, tc.msg)
			}
		})
	}
}

func TestHoldoutMatchesSQL(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var rows []struct {
		ID int64 `db:"id"`
		In bool  `db:"held"`
	}
	args := &Args{}
	c := args.Add("renewal")
	b := args.Add(holdoutBasisPoints(12.5))
	err := f.db.Select(&rows, `SELECT s.id, ((('x' || substr(md5(`+c+`::text || ':' || s.id::text), 1, 8))::bit(32)::bigint % 10000) < `+b+`) AS held
		FROM generate_series(1, 20000) AS s(id)`, args.Values()...)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, r := range rows {
		if Holdout("renewal", r.ID, 12.5) != r.In {
			t.Fatalf("subscriber %d: Go %v, SQL %v", r.ID, !r.In, r.In)
		}
		if r.In {
			held++
		}
	}
	if held < 2300 || held > 2700 {
		t.Fatalf("held out %d of 20000 at 12.5%%", held)
	}
}

// audience.reachable of a campaign counts identities of the accounts it
// sends through (main unless settings.accounts names another); a segment's
// counts every account.
func TestAudienceReachableOnTheCampaignsAccount(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Now()
	for _, s := range []struct{ ext, account string }{{"on-main", "main"}, {"on-b", "brand-b"}} {
		id := f.subscriber(sub{ext: s.ext})
		f.consent(id, "telegram", "service", true)
		if _, err := f.db.Exec(`INSERT INTO channel_identities (subscriber_id, channel, account, address) VALUES ($1, 'telegram', $2, $3)`,
			id, s.account, s.ext); err != nil {
			t.Fatal(err)
		}
	}
	aud := campaigns.Audience{Reachable: []string{"telegram"}}
	for _, c := range []struct {
		accounts map[string]string
		want     []string
	}{
		{nil, []string{"on-b", "on-main"}},
		{map[string]string{}, []string{"on-main"}},
		{map[string]string{"telegram": "brand-b"}, []string{"on-b"}},
		{map[string]string{"viber": "brand-b"}, []string{"on-main"}},
	} {
		got := audienceMembers(t, f, aud, AudienceTarget{Topic: "service", Channels: []string{"telegram"}, Now: now, Accounts: c.accounts})
		if !slices.Equal(got, c.want) {
			t.Errorf("accounts %v: %v, want %v", c.accounts, got, c.want)
		}
	}
}
