package worker

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// The claim statement (nudge_claim_runs, migrations 00034 and 00035): a claim starts
// at its slot and moves on to the next slots only to fill up, serves each
// slot oldest first, never returns a run another open claim holds, and a
// claim large enough reaches every due run whatever slot it starts at.
func TestClaimSlots(t *testing.T) {
	h := setup(t)
	subs := h.blast("slots", 40, t0.Add(-time.Hour))
	// Due at different times, newest ids oldest, so id order and due order differ.
	h.exec(`UPDATE flow_runs SET next_at = $1::timestamptz - make_interval(secs => id) WHERE campaign_id = 'slots'`, t0)
	ctx := context.Background()
	claim := func(tx *sqlx.Tx, n, slot int) []runRow {
		t.Helper()
		var rs []runRow
		if err := tx.SelectContext(ctx, &rs, qClaimRuns, t0, n, slot); err != nil {
			t.Fatal(err)
		}
		return rs
	}

	a := h.begin()
	first := claim(a, 5, 3)
	if len(first) != 5 {
		t.Fatalf("claim of 5 got %d runs", len(first))
	}
	// Slots in order from 3 (wrapping), each slot's runs oldest first.
	for i, r := range first {
		if i == 0 && r.ID%claimSlots != 3 {
			t.Errorf("claim from slot 3 began with run %d of slot %d", r.ID, r.ID%claimSlots)
		}
		if i == 0 {
			continue
		}
		prev := first[i-1]
		dist := func(id int64) int64 { return (id%claimSlots - 3 + claimSlots) % claimSlots }
		switch {
		case dist(r.ID) < dist(prev.ID):
			t.Errorf("run %d (slot %d) after run %d (slot %d): slots out of order", r.ID, r.ID%claimSlots, prev.ID, prev.ID%claimSlots)
		case dist(r.ID) == dist(prev.ID) && r.NextAt.Before(*prev.NextAt):
			t.Errorf("run %d due %v after run %d due %v in one slot: not oldest first", r.ID, r.NextAt, prev.ID, prev.NextAt)
		}
	}

	// A second claim, open at the same time, from the same slot: slots
	// without a backlog are shared, so it gets the other 35, none of the
	// first claim's.
	b := h.begin()
	rest := claim(b, 100, 3)
	if len(rest) != len(subs)-len(first) {
		t.Errorf("second claim got %d runs, want %d", len(rest), len(subs)-len(first))
	}
	held := map[int64]bool{}
	for _, r := range first {
		held[r.ID] = true
	}
	for _, r := range rest {
		if held[r.ID] {
			t.Errorf("run %d claimed twice", r.ID)
		}
	}
	a.Rollback()
	b.Rollback()

	// Whatever slot a claim starts at, a large one reaches every due run;
	// nothing not yet due is claimed.
	h.exec(`UPDATE flow_runs SET next_at = $1::timestamptz + interval '1 minute' WHERE id = (SELECT min(id) FROM flow_runs WHERE campaign_id = 'slots')`, t0)
	for _, slot := range []int{0, 9, 15} {
		c := h.begin()
		if got := len(claim(c, 100, slot)); got != len(subs)-1 {
			t.Errorf("claim from slot %d got %d runs, want %d", slot, got, len(subs)-1)
		}
		c.Rollback()
	}
}

// A slot with a backlog (32 due runs or more, migration 00035) has one
// claim at a time: a second claim passes over it instead of walking the
// runs the first holds there, owns the next one, and a third claim gets
// every due run but those of the two owned slots.
func TestClaimSlotOwners(t *testing.T) {
	h := setup(t)
	const perSlot = 70
	h.blast("owners", perSlot*claimSlots, t0.Add(-time.Hour))
	ctx := context.Background()
	claim := func(n, slot int) []runRow {
		t.Helper()
		var rs []runRow
		if err := h.begin().SelectContext(ctx, &rs, qClaimRuns, t0, n, slot); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	slotsOf := func(rs []runRow) map[int64]int {
		m := map[int64]int{}
		for _, r := range rs {
			m[r.ID%claimSlots]++
		}
		return m
	}
	if got := slotsOf(claim(10, 3)); got[3] != 10 || len(got) != 1 {
		t.Fatalf("first claim of 10 from slot 3 took runs of slots %v, want 10 of slot 3", got)
	}
	if got := slotsOf(claim(10, 3)); got[4] != 10 || len(got) != 1 {
		t.Errorf("second claim of 10 from slot 3 took runs of slots %v, want 10 of slot 4 (slot 3 is owned)", got)
	}
	var inSlot [claimSlots]int
	var ids []int64
	if err := h.db.SelectContext(ctx, &ids, `SELECT id FROM flow_runs WHERE campaign_id = 'owners'`); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		inSlot[id%claimSlots]++
	}
	third := claim(len(ids), 3)
	if got := slotsOf(third); got[3] != 0 || got[4] != 0 {
		t.Errorf("third claim took runs of the owned slots: %v", got)
	}
	if want := len(ids) - inSlot[3] - inSlot[4]; len(third) != want {
		t.Errorf("third claim got %d runs, want the %d outside the owned slots", len(third), want)
	}
}

// A claim passes over a slot another claim owns without reading it
// (migration 00037): with every slot but one owned, a claim reads the free
// slot's entries only, where counting each owned slot's due runs first
// read 32 entries of runs the owner holds in each.
func TestClaimPassesOwnedSlotsUnread(t *testing.T) {
	h := setup(t)
	const perSlot = 40
	h.blast("unread", perSlot*claimSlots, t0.Add(-time.Hour))
	ctx := context.Background()
	for s := 0; s < claimSlots-1; s++ {
		var rs []runRow
		if err := h.begin().SelectContext(ctx, &rs, qClaimRuns, t0, 5, s); err != nil {
			t.Fatal(err)
		}
		if len(rs) != 5 || rs[0].ID%claimSlots != int64(s) {
			t.Fatalf("claim from slot %d did not own it: %d runs", s, len(rs))
		}
	}
	tx := h.begin()
	var rs []runRow
	if err := tx.SelectContext(ctx, &rs, qClaimRuns, t0, 5, 0); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 || rs[0].ID%claimSlots != claimSlots-1 {
		t.Fatalf("claim from slot 0 got %d runs, want 5 of the one free slot %d", len(rs), claimSlots-1)
	}
	var read int
	if err := tx.GetContext(ctx, &read, `SELECT pg_stat_get_xact_tuples_returned('flow_runs_work_slot'::regclass)`); err != nil {
		t.Fatal(err)
	}
	// The free slot: its count (up to 32) and its 5 runs.
	if read > 32+5 {
		t.Errorf("the claim read %d work-index entries, want at most %d (the owned slots unread)", read, 32+5)
	}
}

// A pass right after a claim of this process found every due run held by
// other claims queues no claims (they would find nothing as well: at the
// end of a blast idle claimers polled the work index for nothing); the
// pass after it queues them again, so runs that fall due meanwhile wait
// one pass at most, and a kick (runs committed since) is never passed over.
func TestPassAfterAnEmptyClaimQueuesNone(t *testing.T) {
	h := setup(t, withoutServer())
	h.blast("held", 10, t0.Add(-time.Minute))
	ctx := context.Background()
	pending := func() int {
		t.Helper()
		n, err := h.engine.rdb.LLen(ctx, pendingKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	pass := func() {
		t.Helper()
		if n, err := h.disp.Pass(ctx); err != nil || n != 1 {
			t.Fatalf("pass: %d, %v; want 1 (runs are due)", n, err)
		}
	}
	pass()
	if got, want := pending(), h.engine.cfg.Concurrency; got != want {
		t.Fatalf("first pass queued %d claims, want %d", got, want)
	}
	if _, err := h.insp.DeleteAllPendingTasks(Queue); err != nil {
		t.Fatal(err)
	}
	// Another claim holds every due run.
	var held []runRow
	if err := h.begin().SelectContext(ctx, &held, qClaimRuns, t0, 100, 0); err != nil || len(held) != 10 {
		t.Fatalf("holding claim: %d runs, %v", len(held), err)
	}
	if n, err := h.engine.workDue(ctx); err != nil || n != 0 {
		t.Fatalf("claim beside the holder: %d runs, %v; want none", n, err)
	}
	pass()
	if got := pending(); got != 0 {
		t.Errorf("the pass after an empty claim queued %d claims, want none", got)
	}
	pass()
	if got, want := pending(), h.engine.cfg.Concurrency; got != want {
		t.Errorf("the pass after that queued %d claims, want %d", got, want)
	}
	// Runs committed after the empty claim (their NOTIFY kicks the
	// dispatcher) are nobody's: the pass queues claims for them.
	if _, err := h.insp.DeleteAllPendingTasks(Queue); err != nil {
		t.Fatal(err)
	}
	if n, err := h.engine.workDue(ctx); err != nil || n != 0 {
		t.Fatalf("claim beside the holder: %d runs, %v; want none", n, err)
	}
	h.disp.Kick()
	pass()
	if got, want := pending(), h.engine.cfg.Concurrency; got != want {
		t.Errorf("the pass after a kick queued %d claims, want %d", got, want)
	}
}

// begin opens a transaction, rolled back when the test ends: a claim held
// open beside the others.
func (h *harness) begin() *sqlx.Tx {
	h.t.Helper()
	tx, err := h.db.BeginTxx(context.Background(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { tx.Rollback() })
	return tx
}
