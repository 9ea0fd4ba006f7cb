package scheduler

import (
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
)

// TestOccurrencesDST checks the wall-time rule across the 2026 and 2027 DST
// changes: a weekly "Friday 18:00" fires at 18:00 local on both sides of each
// change; 02:30 daily is shifted by the gap on spring-forward days and fires
// once on fall-back days.
func TestOccurrencesDST(t *testing.T) {
	type occ struct{ wall, at string } // at in RFC3339 with the local offset
	tests := []struct {
		name, zone, spec string
		from, to         string // UTC RFC3339
		want             []occ
	}{
		{"New York Friday 18:00 across the November fall-back", "America/New_York", "0 18 * * 5",
			"2026-10-25T00:00:00Z", "2026-11-14T00:00:00Z", []occ{
				{"2026-10-30T18:00", "2026-10-30T18:00:00-04:00"},
				{"2026-11-06T18:00", "2026-11-06T18:00:00-05:00"},
				{"2026-11-13T18:00", "2026-11-13T18:00:00-05:00"},
			}},
		{"New York Friday 18:00 across the March spring-forward", "America/New_York", "0 18 * * 5",
			"2027-03-04T00:00:00Z", "2027-03-20T00:00:00Z", []occ{
				{"2027-03-05T18:00", "2027-03-05T18:00:00-05:00"},
				{"2027-03-12T18:00", "2027-03-12T18:00:00-05:00"}, // change is on Sunday 14 March
				{"2027-03-19T18:00", "2027-03-19T18:00:00-04:00"},
			}},
		{"Berlin Friday 18:00 across the October fall-back", "Europe/Berlin", "0 18 * * 5",
			"2026-10-20T00:00:00Z", "2026-11-01T00:00:00Z", []occ{
				{"2026-10-23T18:00", "2026-10-23T18:00:00+02:00"},
				{"2026-10-30T18:00", "2026-10-30T18:00:00+01:00"},
			}},
		{"Berlin Friday 18:00 across the March spring-forward", "Europe/Berlin", "0 18 * * 5",
			"2027-03-20T00:00:00Z", "2027-04-03T00:00:00Z", []occ{
				{"2027-03-26T18:00", "2027-03-26T18:00:00+01:00"},
				{"2027-04-02T18:00", "2027-04-02T18:00:00+02:00"},
			}},
		{"Kolkata has no DST", "Asia/Kolkata", "0 18 * * 5",
			"2026-10-29T00:00:00Z", "2026-11-07T00:00:00Z", []occ{
				{"2026-10-30T18:00", "2026-10-30T18:00:00+05:30"},
				{"2026-11-06T18:00", "2026-11-06T18:00:00+05:30"},
			}},
		{"New York 02:30 daily: spring-forward gap fires once, shifted by the gap", "America/New_York", "30 2 * * *",
			"2027-03-13T00:00:00Z", "2027-03-16T00:00:00Z", []occ{
				{"2027-03-13T02:30", "2027-03-13T02:30:00-05:00"},
				{"2027-03-14T02:30", "2027-03-14T03:30:00-04:00"},
				{"2027-03-15T02:30", "2027-03-15T02:30:00-04:00"},
			}},
		{"New York 01:30 daily: fall-back repeat fires once, the first time", "America/New_York", "30 1 * * *",
			"2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z", []occ{
				{"2026-10-31T01:30", "2026-10-31T01:30:00-04:00"},
				{"2026-11-01T01:30", "2026-11-01T01:30:00-04:00"},
				{"2026-11-02T01:30", "2026-11-02T01:30:00-05:00"},
			}},
		{"Berlin 02:30 daily: gap and repeat", "Europe/Berlin", "30 2 * * *",
			"2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z", []occ{
				{"2026-10-25T02:30", "2026-10-25T02:30:00+02:00"},
				{"2026-10-26T02:30", "2026-10-26T02:30:00+01:00"},
			}},
		{"Berlin 02:30 on the spring-forward day", "Europe/Berlin", "30 2 * * *",
			"2027-03-27T12:00:00Z", "2027-03-28T12:00:00Z", []occ{
				{"2027-03-28T02:30", "2027-03-28T03:30:00+02:00"},
			}},
		{"Berlin every 30 min over the gap: skipped times that land on real ones are dropped", "Europe/Berlin", "*/30 1-3 * * *",
			"2027-03-27T23:00:00Z", "2027-03-28T03:00:00Z", []occ{
				{"2027-03-28T01:00", "2027-03-28T01:00:00+01:00"},
				{"2027-03-28T01:30", "2027-03-28T01:30:00+01:00"},
				{"2027-03-28T03:00", "2027-03-28T03:00:00+02:00"},
				{"2027-03-28T03:30", "2027-03-28T03:30:00+02:00"},
			}},
		{"Lord Howe 30-minute DST gap: 02:15 shifted to 02:45", "Australia/Lord_Howe", "15 2 * * *",
			"2026-10-03T00:00:00Z", "2026-10-04T12:00:00Z", []occ{
				{"2026-10-04T02:15", "2026-10-04T02:45:00+11:00"},
			}},
		{"Lord Howe 30-minute fall-back: 01:45 fires once", "Australia/Lord_Howe", "45 1 * * *",
			"2026-04-04T00:00:00Z", "2026-04-05T12:00:00Z", []occ{
				{"2026-04-05T01:45", "2026-04-05T01:45:00+11:00"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := campaigns.ParseCron(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			loc := mustLoc(t, tc.zone)
			from, _ := time.Parse(time.RFC3339, tc.from)
			to, _ := time.Parse(time.RFC3339, tc.to)
			got := Occurrences(sched, loc, from, to)
			if len(got) != len(tc.want) {
				for _, g := range got {
					t.Logf("got %s at %s", g.Wall.Format(WallLayout), g.At.In(loc).Format(time.RFC3339))
				}
				t.Fatalf("got %d occurrences, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if g := got[i].Wall.Format(WallLayout); g != w.wall {
					t.Errorf("[%d] wall = %s, want %s", i, g, w.wall)
				}
				if g := got[i].At.In(loc).Format(time.RFC3339); g != w.at {
					t.Errorf("[%d] at = %s, want %s", i, g, w.at)
				}
				if got[i].Key() != "schedule:"+w.wall {
					t.Errorf("[%d] key = %s", i, got[i].Key())
				}
			}
		})
	}
}

// Consecutive windows see each occurrence exactly once, whatever the tick size.
func TestOccurrencesWindowsPartition(t *testing.T) {
	sched, _ := campaigns.ParseCron("*/30 * * * *")
	for _, zone := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe"} {
		loc := mustLoc(t, zone)
		start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
		end := start.Add(40 * 24 * time.Hour)
		whole := Occurrences(sched, loc, start, start.Add(20*24*time.Hour))
		whole = append(whole, Occurrences(sched, loc, start.Add(20*24*time.Hour), end)...)
		seen := map[string]bool{}
		n := 0
		for t0 := start; t0.Before(end); t0 = t0.Add(7 * time.Minute) {
			for _, o := range Occurrences(sched, loc, t0, t0.Add(7*time.Minute)) {
				if seen[o.Key()] {
					t.Fatalf("%s: %s seen twice", zone, o.Key())
				}
				seen[o.Key()] = true
				n++
			}
		}
		if n != len(whole) {
			t.Fatalf("%s: windows saw %d, one pass %d", zone, n, len(whole))
		}
	}
}
