package subscribers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/subscribers"
)

// TestRollupAgreesWithWriters replays random histories through the
// production writers of identities and events (upserts, event batches out of
// time order and with equal times, blocking and unblocking, re-binding an
// address to another subscriber, the CSV import, erasure, and a fixture's
// delete) and compares subscriber_rollup, which the triggers keep, with a
// recomputation from the identities and events in Go.
func TestRollupAgreesWithWriters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(28))
	base := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	kinds := []channels.Kind{channels.Telegram, channels.SMS, channels.Viber}
	names := []string{"order.delivered", "subscription.cancelled", "app.opened"}
	type ident struct {
		ch   channels.Kind
		addr string
	}
	const n = 40
	ext := make([]string, n)
	var idents [][]ident
	addr := 0
	newIdent := func(ch channels.Kind) ident {
		addr++
		if ch == channels.SMS {
			return ident{ch, fmt.Sprintf("+7999%07d", addr)}
		}
		return ident{ch, fmt.Sprintf("%d", 100000+addr)}
	}
	ctxUpsert := func(e string) {
		if _, _, err := b.store.Upsert(ctx, subscribers.Input{ExternalID: e}); err != nil {
			t.Fatalf("upsert %s: %v", e, err)
		}
	}
	for i := range ext {
		ext[i] = fmt.Sprintf("r-%d", i)
		idents = append(idents, nil)
		ctxUpsert(ext[i])
	}
	event := func(i int) subscribers.Event {
		at := base.Add(-time.Duration(rng.Intn(6)) * 24 * time.Hour) // few distinct times: ties
		return subscribers.Event{ExternalID: ext[i], Name: names[rng.Intn(len(names))], OccurredAt: &at,
			Payload: map[string]any{"box": []string{"family", "solo"}[rng.Intn(2)], "n": rng.Intn(100)}}
	}
	for step := 0; step < 400; step++ {
		i := rng.Intn(n)
		switch r := rng.Intn(20); {
		case r < 5:
			in := subscribers.Input{ExternalID: ext[i]}
			for k := rng.Intn(3); k > 0; k-- {
				id := newIdent(kinds[rng.Intn(len(kinds))])
				in.Identities = append(in.Identities, subscribers.IdentityInput{Channel: id.ch, Address: id.addr})
				idents[i] = append(idents[i], id)
			}
			if _, _, err := b.store.Upsert(ctx, in); err != nil {
				t.Fatalf("upsert %s: %v", ext[i], err)
			}
		case r < 11:
			var evs []subscribers.Event
			for k := 1 + rng.Intn(4); k > 0; k-- {
				evs = append(evs, event(rng.Intn(n))) // a batch over several subscribers
			}
			if _, err := b.store.AddEvents(ctx, evs); err != nil {
				t.Fatalf("events: %v", err)
			}
		case r < 14 && len(idents[i]) > 0:
			id := idents[i][rng.Intn(len(idents[i]))]
			if err := consent.Block(ctx, b.db, id.ch, "", id.addr, base, consent.Proof{}); err != nil {
				t.Fatalf("block: %v", err)
			}
		case r < 16 && len(idents[i]) > 0:
			id := idents[i][rng.Intn(len(idents[i]))]
			if err := consent.Unblock(ctx, b.db, id.ch, "", id.addr); err != nil {
				t.Fatalf("unblock: %v", err)
			}
		case r < 17 && len(idents[i]) > 0:
			// An inbound start from an address moves it to this subscriber
			// elsewhere in production; here a direct re-bind does the same
			// update of subscriber_id.
			j := rng.Intn(n)
			id := idents[i][0]
			b.db.MustExec(`UPDATE channel_identities SET subscriber_id = (SELECT id FROM subscribers WHERE external_id = $1)
				WHERE channel = $2 AND address = $3 AND EXISTS (SELECT 1 FROM subscribers WHERE external_id = $1)`, ext[j], string(id.ch), id.addr)
			idents[i], idents[j] = idents[i][1:], append(idents[j], id)
		case r < 18:
			var csv strings.Builder
			csv.WriteString("external_id,telegram\n")
			for k := 0; k < 5; k++ {
				j := rng.Intn(n)
				id := newIdent(channels.Telegram)
				fmt.Fprintf(&csv, "%s,%s\n", ext[j], id.addr)
				idents[j] = append(idents[j], id)
			}
			if _, err := subscribers.NewImporter(b.db, b.clock.Now).Import(ctx, strings.NewReader(csv.String()), subscribers.ImportOptions{}); err != nil {
				t.Fatalf("import: %v", err)
			}
		case r < 19:
			b.db.MustExec(`DELETE FROM subscriber_events WHERE id = (SELECT min(id) FROM subscriber_events)`)
		default:
			if _, err := b.store.Erase(ctx, ext[i]); err == nil {
				ext[i], idents[i] = ext[i]+"-again", nil // a new subscriber takes the slot
				ctxUpsert(ext[i])
			}
		}
	}

	want, got := recomputeRollup(t, b), readRollup(t, b)
	if len(want) < n/2 {
		t.Fatalf("only %d subscribers have identities or events: the replay tests little", len(want))
	}
	for id, w := range want {
		if g := got[id]; g != w {
			t.Errorf("subscriber %d:\n rollup     %s\n recomputed %s", id, g, w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok && g != (`reachable=[] events={}`) {
			t.Errorf("subscriber %d: rollup %s, nothing to roll up", id, g)
		}
	}
}

// recomputeRollup is subscriber_rollup computed in Go from the identities
// and the events: one canonical line per subscriber with either.
func recomputeRollup(t *testing.T, b bundle) map[int64]string {
	t.Helper()
	reach := map[int64][]string{}
	var ids []struct {
		Sub     int64  `db:"subscriber_id"`
		Channel string `db:"channel"`
		Blocked bool   `db:"blocked"`
	}
	if err := b.db.Select(&ids, `SELECT subscriber_id, channel, blocked_at IS NOT NULL AS blocked FROM channel_identities`); err != nil {
		t.Fatal(err)
	}
	for _, r := range ids {
		if _, ok := reach[r.Sub]; !ok {
			reach[r.Sub] = []string{}
		}
		if !r.Blocked && !slices.Contains(reach[r.Sub], r.Channel) {
			reach[r.Sub] = append(reach[r.Sub], r.Channel)
		}
	}
	var evs []struct {
		ID      int64     `db:"id"`
		Sub     int64     `db:"subscriber_id"`
		Name    string    `db:"name"`
		At      time.Time `db:"occurred_at"`
		Payload []byte    `db:"payload"`
	}
	if err := b.db.Select(&evs, `SELECT id, subscriber_id, name, occurred_at, payload FROM subscriber_events`); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		T    []int64 `json:"t"`
		At   int64   `json:"at"`
		ID   int64   `json:"id"`
		Last any     `json:"last"`
	}
	events := map[int64]map[string]*entry{}
	for _, e := range evs {
		if events[e.Sub] == nil {
			events[e.Sub] = map[string]*entry{}
		}
		x := events[e.Sub][e.Name]
		if x == nil {
			x = &entry{}
			events[e.Sub][e.Name] = x
		}
		us := subscribers.RollupMicros(e.At)
		x.T = append(x.T, us)
		if x.ID == 0 || us > x.At || us == x.At && e.ID > x.ID {
			x.At, x.ID = us, e.ID
			if err := json.Unmarshal(e.Payload, &x.Last); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := map[int64]string{}
	for sub := range reach {
		out[sub] = ""
	}
	for sub := range events {
		out[sub] = ""
	}
	for sub := range out {
		for _, x := range events[sub] {
			sort.Slice(x.T, func(i, j int) bool { return x.T[i] > x.T[j] })
			if len(x.T) > subscribers.RollupTimes {
				x.T = x.T[:subscribers.RollupTimes]
			}
		}
		r := reach[sub]
		if r == nil {
			r = []string{}
		}
		sort.Strings(r)
		ev := map[string]*entry{}
		for k, v := range events[sub] {
			ev[k] = v
		}
		out[sub] = canonical(t, r, ev)
	}
	return out
}

// readRollup reads subscriber_rollup as recomputeRollup prints it.
func readRollup(t *testing.T, b bundle) map[int64]string {
	t.Helper()
	var rows []struct {
		Sub    int64  `db:"subscriber_id"`
		Reach  string `db:"reach"`
		Events []byte `db:"events"`
	}
	if err := b.db.Select(&rows, `SELECT subscriber_id, array_to_json(reachable)::text AS reach, events FROM subscriber_rollup`); err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, r := range rows {
		var reach []string
		var ev map[string]any
		if err := json.Unmarshal([]byte(r.Reach), &reach); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(r.Events, &ev); err != nil {
			t.Fatal(err)
		}
		if reach == nil {
			reach = []string{}
		}
		out[r.Sub] = canonical(t, reach, ev)
	}
	return out
}

// canonical prints a rollup row with sorted keys and plain numbers.
func canonical(t *testing.T, reach []string, events any) string {
	t.Helper()
	raw, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	e, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("reachable=%v events=%s", reach, e)
}
