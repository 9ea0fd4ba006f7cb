package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// result is one scenario's line of bench/results/chaos.json.
type result struct {
	Scenario string `json:"scenario"`
	Channel  string `json:"channel"` // the provider: sandbox (calls counted by trigger) or telegram (its fake)
	Workers  int    `json:"workers"`
	// Intended: subscribers who should get the message (every subscriber
	// but those whose STOP committed before any send to them).
	Intended int `json:"intended"`
	// Delivered: calls handed to the provider, repeats included (what a
	// provider without deduplication delivers).
	Delivered int `json:"delivered"`
	// Duplicates: calls beyond the first per idempotency key;
	// DuplicateRecipients: subscribers handed more than one call.
	Duplicates          int `json:"duplicates"`
	DuplicateRecipients int `json:"duplicate_recipients"`
	// Unknown: messages in status 'unknown' (sent or not, nobody knows).
	Unknown int `json:"unknown"`
	// Lost: intended subscribers no call reached and whose message is not
	// recorded unknown.
	Lost int `json:"lost"`
	// SentAtFault: calls made when the fault began.
	SentAtFault int `json:"sent_at_fault"`
	// RecoverSeconds: from the fault's start to the next call after its
	// end; FinishSeconds: from the fault's start to every run ended.
	RecoverSeconds float64 `json:"recover_seconds"`
	FinishSeconds  float64 `json:"finish_seconds"`
	// OptOuts committed during the blast, how many a call overtook, the
	// longest wait of one for sends in progress (the try that committed,
	// start to commit) and the longest from its first try, retries through
	// a database outage included.
	OptOuts            int     `json:"opt_outs"`
	OptOutsOvertaken   int     `json:"opt_outs_overtaken"`
	OptOutWaitMaxSecs  float64 `json:"opt_out_wait_max_seconds"`
	OptOutSpanMaxSecs  float64 `json:"opt_out_span_max_seconds"`
	DuplicateBound     int     `json:"duplicate_bound"`
	OptOutWaitBoundSec float64 `json:"opt_out_wait_bound_seconds"`
	OptOutSpanBoundSec float64 `json:"opt_out_span_bound_seconds"`
	Note               string  `json:"note,omitempty"`
}

// measure counts the scenario's outcome from the database and the STOPs.
func (s *stack) measure(r *result, outs []optOut) {
	s.t.Helper()
	r.Workers = len(s.workers)
	get := func(q string, args ...any) int {
		s.t.Helper()
		var n int
		if err := s.d.Get(&n, q, args...); err != nil {
			s.t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	r.Delivered = get(`SELECT count(*) FROM chaos_provider_calls`)
	r.Duplicates = r.Delivered - get(`SELECT count(DISTINCT idempotency_key) FROM chaos_provider_calls`)
	r.DuplicateRecipients = get(`SELECT count(*) FROM (SELECT address FROM chaos_provider_calls GROUP BY address HAVING count(*) > 1) d`)
	// 'unknown' is a status of the in-flight ledger (issue 13 item 1); on a
	// schema without it the count is simply 0.
	r.Unknown = get(`SELECT count(*) FROM messages WHERE status = 'unknown'`)
	var reached []string
	if err := s.d.Select(&reached, `SELECT DISTINCT address FROM chaos_provider_calls`); err != nil {
		s.t.Fatal(err)
	}
	got := make(map[string]bool, len(reached))
	for _, a := range reached {
		got[a] = true
	}
	// A subscriber whose message is recorded unknown is not lost: the
	// ledger says who may lack it (the worker died mid-call, or before it).
	var unknownSubs []int64
	if err := s.d.Select(&unknownSubs, `SELECT DISTINCT subscriber_id FROM messages WHERE status = 'unknown'`); err != nil {
		s.t.Fatal(err)
	}
	for _, id := range unknownSubs {
		got[s.address(id)] = true
	}
	stopped := map[string]bool{}
	for _, o := range outs {
		stopped[s.address(o.sub)] = true
	}
	for _, id := range s.subs {
		a := s.address(id)
		switch {
		case got[a]:
			r.Intended++
		case stopped[a]:
		default:
			r.Intended++
			r.Lost++
		}
	}
	r.OptOuts = len(outs)
	for _, o := range outs {
		r.OptOutWaitMaxSecs = max(r.OptOutWaitMaxSecs, o.wait.Seconds())
		r.OptOutSpanMaxSecs = max(r.OptOutSpanMaxSecs, o.span.Seconds())
	}
	r.OptOutsOvertaken = s.overtaken(outs)
}

// check asserts the suite's promises on r.
func check(t *testing.T, r result) {
	t.Helper()
	if r.Lost != 0 {
		t.Errorf("%s: %d of %d intended messages lost", r.Scenario, r.Lost, r.Intended)
	}
	if r.OptOutsOvertaken > 0 {
		t.Errorf("%s: %d messages were handed to the provider after the subscriber's STOP committed",
			r.Scenario, r.OptOutsOvertaken)
	}
	if r.OptOuts == 0 {
		t.Errorf("%s: no opt-out raced the blast", r.Scenario)
	}
	if r.OptOutWaitMaxSecs > r.OptOutWaitBoundSec {
		t.Errorf("%s: an opt-out waited %.2fs for sends in progress, more than %.0fs", r.Scenario, r.OptOutWaitMaxSecs, r.OptOutWaitBoundSec)
	}
	if r.OptOutSpanMaxSecs > r.OptOutSpanBoundSec {
		t.Errorf("%s: an opt-out took %.2fs from its first try, more than %.0fs", r.Scenario, r.OptOutSpanMaxSecs, r.OptOutSpanBoundSec)
	}
	// Duplicates are the subject of issue 13 item 1: the bound is what
	// today's code meets, so that a regression shows.
	if r.Duplicates > r.DuplicateBound {
		t.Errorf("%s: %d duplicate provider calls, more than the bound %d", r.Scenario, r.Duplicates, r.DuplicateBound)
	}
}

var (
	resultsMu sync.Mutex
	results   []result
)

func record(r result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}

// writeResults logs the table and writes the JSON to NUDGE_CHAOS_RESULTS
// (`make chaos`: bench/results/chaos.json) or, without it, to a temporary
// directory, so `make test` leaves the tree clean.
func writeResults(t *testing.T, size int) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %7s %9s %6s %6s %7s %4s %8s %8s %7s %9s %9s\n", "scenario", "intend", "delivered", "dups", "dupsub",
		"unknown", "lost", "recover", "finish", "optouts", "optwait", "optspan")
	for _, r := range results {
		fmt.Fprintf(&b, "%-26s %7d %9d %6d %6d %7d %4d %7.2fs %7.2fs %7d %8.2fs %8.2fs\n", r.Scenario, r.Intended, r.Delivered,
			r.Duplicates, r.DuplicateRecipients, r.Unknown, r.Lost, r.RecoverSeconds, r.FinishSeconds, r.OptOuts, r.OptOutWaitMaxSecs,
			r.OptOutSpanMaxSecs)
	}
	t.Logf("chaos suite at size %d:\n%s", size, b.String())
	out := map[string]any{
		"name": "chaos", "at": time.Now().UTC().Format(time.RFC3339), "size": size, "cpus": runtime.NumCPU(),
		"go": runtime.Version(), "load_average": testenv.LoadAverage(),
		"worker_concurrency": concurrency, "worker_batch": batch, "scenarios": results,
	}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("NUDGE_CHAOS_RESULTS")
	if path == "" {
		path = filepath.Join(t.TempDir(), "chaos.json")
	}
	if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	t.Logf("wrote %s", path)
}
