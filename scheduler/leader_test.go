package scheduler

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// helperEnv makes the test binary run a scheduler process (see TestMain).
const helperEnv = "NUDGE_SCHEDULER_TEST_PROCESS_DB"

func TestMain(m *testing.M) {
	if u := os.Getenv(helperEnv); u != "" {
		os.Exit(runHelperProcess(u))
	}
	os.Exit(m.Run())
}

// runHelperProcess is a scheduler process: it prints "leader <pid>" once it
// leads and runs until killed.
func runHelperProcess(u string) int {
	d, err := sqlx.Open("postgres", u)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s := New(d, time.Now, nil, Config{LeaderRetry: 50 * time.Millisecond, Interval: 50 * time.Millisecond})
	if err := s.Start(ctx); err != nil {
		fmt.Println("error", err)
		return 1
	}
	for !s.IsLeader() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("leader", os.Getpid())
	<-ctx.Done()
	s.Stop()
	return 0
}

// lockHolder returns the backend pid holding the leader lock, or 0.
func lockHolder(t *testing.T, f fixture) int {
	var pids []int
	err := f.db.Select(&pids, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = $1`, DefaultLockKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 1 {
		t.Fatalf("lock held by %v", pids)
	}
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

func fastConfig() Config {
	return Config{LeaderRetry: 20 * time.Millisecond, Interval: 20 * time.Millisecond}
}

func TestOneLeaderAndHandOverWhenConnectionDies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	a := New(f.db, time.Now, testLog(t), fastConfig())
	b := New(f.db, time.Now, testLog(t), fastConfig())
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	testenv.WaitFor(t, "a to lead", time.Minute, a.IsLeader)
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	// b keeps trying and keeps failing while a holds the lock.
	holder := lockHolder(t, f)
	if holder == 0 {
		t.Fatal("no backend holds the leader lock")
	}
	for i := 0; i < 20; i++ {
		time.Sleep(20 * time.Millisecond)
		if b.IsLeader() {
			t.Fatal("two leaders")
		}
	}
	// Kill the leader's connection: the lock goes with it and someone (b, or a
	// on a fresh connection) takes over; never both.
	if _, err := f.db.Exec(`SELECT pg_terminate_backend($1)`, holder); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "a new leader", time.Minute, func() bool {
		p := lockHolder(t, f)
		return p != 0 && p != holder
	})
	testenv.WaitFor(t, "exactly one instance to report leading", time.Minute, func() bool { return a.IsLeader() != b.IsLeader() })
	// Graceful stop hands over too.
	leader, follower := a, b
	if b.IsLeader() {
		leader, follower = b, a
	}
	leader.Stop()
	testenv.WaitFor(t, "the follower to lead after a graceful stop", time.Minute, follower.IsLeader)
}

func TestHandOverWhenLeaderProcessIsKilled(t *testing.T) {
	t.Parallel()
	f := setup(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+f.url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "leader ") {
		t.Fatalf("helper process said %q (%v)", line, err)
	}
	ctx := context.Background()
	s := New(f.db, time.Now, testLog(t), fastConfig())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for i := 0; i < 20; i++ {
		time.Sleep(20 * time.Millisecond)
		if s.IsLeader() {
			t.Fatal("in-process scheduler leads while the helper process holds the lock")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	testenv.WaitFor(t, "the in-process scheduler to take over", time.Minute, s.IsLeader)
}

// Two started schedulers that both believe they lead (different lock keys,
// as in a split moment) keep passing over the same occurrences and events:
// still one run per subscriber and trigger.
func TestTwoLeadersAtOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.consenting("l", 500, "*", "Europe/Berlin", "America/New_York")
	now := time.Date(2026, 11, 28, 0, 30, 0, 0, time.UTC) // Friday 18:00 was 1.5h ago in New York, 7.5h ago in Berlin
	f.campaign(weekly("renewal", ZoneSubscriber), now.Add(-7*24*time.Hour))
	clk := clock.NewManual(now)
	ctx := context.Background()
	cfg := fastConfig()
	cfg.MaxLateness = 8 * time.Hour
	a := New(f.db, clk.Now, testLog(t), cfg)
	cfg.LockKey = DefaultLockKey + 1
	b := New(f.db, clk.Now, testLog(t), cfg)
	for _, s := range []*Scheduler{a, b} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
	}
	testenv.WaitFor(t, "both to lead", time.Minute, func() bool { return a.IsLeader() && b.IsLeader() })
	testenv.WaitFor(t, "the runs", time.Minute, func() bool { return f.count(`SELECT count(*) FROM flow_runs`) == 500 })
	// Several more passes by both, with events flowing (the campaign exists
	// before its events: the cursor does not revisit events it passed).
	f.campaign(campaigns.Definition{ID: "ev", Trigger: campaigns.Trigger{Event: &campaigns.EventTrigger{Name: "x"}}}, now)
	if _, err := f.db.Exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) SELECT id, 'x', $1 FROM subscribers`, now); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the event runs", time.Minute, func() bool { return f.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'ev'`) == 500 })
	for i := 0; i < 5; i++ {
		a.Kick()
		b.Kick()
		time.Sleep(30 * time.Millisecond)
	}
	if n := f.count(`SELECT count(*) FROM flow_runs`); n != 1000 {
		t.Fatalf("%d runs, want 1000", n)
	}
}
