package scheduler

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
)

// TestEventFiltersAgreeWithEvents evaluates has_event and no_event filters
// (windows, counts up to the rollup's eight times and beyond it, the newest
// payload with ties in time, events after now) in Go over the stored events,
// and requires the audience predicate to select the same subscribers both
// ways it is compiled: probing the rollup per subscriber (campaign
// audiences, previews) and joined to it once (segment counts, RollupFrom).
func TestEventFiltersAgreeWithEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewSource(9))
	type ev struct {
		id      int64
		name    string
		at      time.Time
		payload map[string]any
	}
	events := map[int64][]ev{}
	var ids []int64
	for i := 0; i < 40; i++ {
		id := f.subscriber(sub{ext: fmt.Sprintf("e-%d", i)})
		ids = append(ids, id)
		for k := rng.Intn(26); k > 0; k-- {
			name := []string{"order.delivered", "app.opened"}[rng.Intn(2)]
			// Whole days from 40 ago to 2 ahead: ties, window edges, the future.
			at := now.Add(time.Duration(rng.Intn(43)-40) * 24 * time.Hour)
			p := map[string]any{"box": []string{"family", "solo"}[rng.Intn(2)], "n": float64(rng.Intn(3))}
			raw, _ := json.Marshal(p)
			events[id] = append(events[id], ev{f.event(id, name, at, string(raw)), name, at, p})
		}
	}
	day := campaigns.Duration(24 * time.Hour)
	family := []campaigns.Condition{{Attr: "box", Op: campaigns.OpEq, Value: "family"}}
	nGte1 := []campaigns.Condition{{Attr: "n", Op: campaigns.OpGte, Value: 1}}
	filters := []struct {
		has bool
		f   campaigns.EventFilter
	}{
		{true, campaigns.EventFilter{Name: "order.delivered"}},
		{true, campaigns.EventFilter{Name: "order.delivered", Within: 7 * day}},
		{true, campaigns.EventFilter{Name: "order.delivered", Within: 30 * day, MinCount: 2}},
		{true, campaigns.EventFilter{Name: "order.delivered", Within: 30 * day, MinCount: 5, Last: family}},
		{true, campaigns.EventFilter{Name: "app.opened", MinCount: 8}},
		{true, campaigns.EventFilter{Name: "app.opened", MinCount: 9}}, // beyond the rollup: the events
		{true, campaigns.EventFilter{Name: "app.opened", Within: 20 * day, MinCount: 9, Last: nGte1}},
		{true, campaigns.EventFilter{Name: "app.opened", Within: 10 * day, Last: nGte1}},
		{true, campaigns.EventFilter{Name: "app.opened", Last: family}},
		{true, campaigns.EventFilter{Name: "never.posted"}},
		{false, campaigns.EventFilter{Name: "order.delivered"}},
		{false, campaigns.EventFilter{Name: "order.delivered", Within: 5 * day}},
		{false, campaigns.EventFilter{Name: "app.opened", Within: 20 * day}},
	}
	for i, tc := range filters {
		// Go: the events of the name in the window [now - within, ∞), the
		// newest by time then id.
		var want []int64
		for _, id := range ids {
			var in []ev
			for _, e := range events[id] {
				if e.name == tc.f.Name && (tc.f.Within == 0 || !e.at.Before(now.Add(-tc.f.Within.D()))) {
					in = append(in, e)
				}
			}
			sort.Slice(in, func(a, b int) bool {
				return in[a].at.After(in[b].at) || in[a].at.Equal(in[b].at) && in[a].id > in[b].id
			})
			ok := len(in) >= max(tc.f.MinCount, 1)
			for _, c := range tc.f.Last {
				if !ok {
					break
				}
				m, err := c.Match(campaigns.Subject{Attributes: in[0].payload})
				if err != nil {
					t.Fatal(err)
				}
				ok = m
			}
			if ok == tc.has {
				want = append(want, id)
			}
		}
		aud := campaigns.Audience{Consent: campaigns.TopicMarketing}
		if tc.has {
			aud.HasEvent = []campaigns.EventFilter{tc.f}
		} else {
			aud.NoEvent = []campaigns.EventFilter{tc.f}
		}
		for _, joined := range []bool{false, true} {
			args := &Args{}
			from := "subscribers s"
			if joined {
				from = RollupFrom
			}
			where, err := AudienceWhere(aud, AudienceTarget{Topic: campaigns.TopicMarketing, Now: now, AnyConsent: true, Joined: joined}, args)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			if err := f.db.Select(&got, `SELECT s.id FROM `+from+` WHERE `+where+` ORDER BY s.id`, args.Values()...); err != nil {
				t.Fatalf("filter %d: %v", i, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("filter %d %+v (has %v, joined %v):\n sql %v\n go  %v", i, tc.f, tc.has, joined, got, want)
			}
		}
		if len(want) == 0 && tc.f.Name != "never.posted" || len(want) == len(ids) && tc.f.Name != "never.posted" {
			t.Errorf("filter %d selects %d of %d: it tests little", i, len(want), len(ids))
		}
	}
}
