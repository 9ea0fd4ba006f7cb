package cli

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/scheduler"
)

// The scheduler command takes the leader lock and releases it on shutdown.
func TestSchedulerCommand(t *testing.T) {
	u := testenv.DBURL(t)
	t.Setenv("NUDGE_DATABASE_URL", u)
	t.Setenv("NUDGE_SCHEDULER_LEADER_RETRY", "50ms")
	t.Setenv("NUDGE_SCHEDULER_INTERVAL", "50ms")
	d, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	held := func() bool {
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND ((classid::bigint << 32) | objid::bigint) = $1`, scheduler.DefaultLockKey).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- Main(ctx, []string{"scheduler"}, strings.NewReader(""), &bytes.Buffer{}, &stderr) }()
	deadline := time.Now().Add(60 * time.Second)
	for !held() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("scheduler never took the lock; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if held() {
		t.Fatal("lock still held after shutdown")
	}
	if !strings.Contains(stderr.String(), "scheduler stopped") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}

func TestSchedulerCommandConfigErrors(t *testing.T) {
	t.Setenv("NUDGE_SCHEDULER_INTERVAL", "soon")
	t.Setenv("NUDGE_SCHEDULER_DEFAULT_TIME_ZONE", "Mars/Olympus")
	var stderr bytes.Buffer
	code := Main(context.Background(), []string{"scheduler"}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "NUDGE_SCHEDULER_INTERVAL") || !strings.Contains(stderr.String(), "NUDGE_SCHEDULER_DEFAULT_TIME_ZONE") {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
}
