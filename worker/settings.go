package worker

import (
	"time"

	"github.com/nudge-engine/nudge/internal/config"
)

// Settings is the worker's configuration from the environment.
type Settings struct {
	Concurrency  int           // NUDGE_WORKER_CONCURRENCY: tasks in parallel per process (2 x CPUs, at least 4)
	BatchSize    int           // NUDGE_WORKER_BATCH: runs per claim transaction (500)
	Poll         time.Duration // NUDGE_WORKER_POLL: dispatcher poll without notifications (1s)
	Lease        time.Duration // NUDGE_WORKER_LEASE: re-enqueue unfinished fallback checks after (30s)
	TaskCheck    time.Duration // NUDGE_WORKER_TASK_CHECK: how often an idle worker polls Asynq (20ms)
	MetricsAddr  string        // NUDGE_WORKER_METRICS_ADDR: /metrics listener of `nudge worker` ("" = none)
	SandboxDelay time.Duration // NUDGE_SANDBOX_DELAY: latency of the sandbox channel (0)
	// NUDGE_WORKER_MEMORY_LIMIT_MB: soft limit of the process's Go memory in
	// MiB (runtime/debug.SetMemoryLimit; 0 = none): DefaultMemoryLimitMiB.
	MemoryLimitMiB int
	// The worker's own pool runs with these session timeouts (db.WithSessionTimeouts).
	StatementTimeout time.Duration // NUDGE_WORKER_STATEMENT_TIMEOUT: statement_timeout (60s; 0 = the server's)
	IdleTxTimeout    time.Duration // NUDGE_WORKER_IDLE_TX_TIMEOUT: idle_in_transaction_session_timeout (30s; 0 = the server's)
}

// Default session timeouts of the worker's pool: a frozen worker's claims are
// ended after defaultIdleTx, which bounds how long an opt-out can wait on one.
const (
	defaultStatementTimeout = 60 * time.Second
	defaultIdleTx           = 30 * time.Second
)

// defaultTaskCheck is how often an idle worker asks Asynq for a task: the
// wait of a reply's next message when the workers are idle (a Redis call
// each, ~50 per second per process).
const defaultTaskCheck = 20 * time.Millisecond

// LoadSettings reads Settings, recording problems in e.
func LoadSettings(e *config.Env) Settings {
	s := Settings{
		Concurrency:  e.Int("NUDGE_WORKER_CONCURRENCY", DefaultConcurrency()),
		BatchSize:    e.Int("NUDGE_WORKER_BATCH", defaultBatch),
		Poll:         e.Duration("NUDGE_WORKER_POLL", time.Second),
		Lease:        e.Duration("NUDGE_WORKER_LEASE", 30*time.Second),
		TaskCheck:    e.Duration("NUDGE_WORKER_TASK_CHECK", defaultTaskCheck),
		MetricsAddr:  e.String("NUDGE_WORKER_METRICS_ADDR", ""),
		SandboxDelay: e.Duration("NUDGE_SANDBOX_DELAY", 0),

		StatementTimeout: e.Duration("NUDGE_WORKER_STATEMENT_TIMEOUT", defaultStatementTimeout),
		IdleTxTimeout:    e.Duration("NUDGE_WORKER_IDLE_TX_TIMEOUT", defaultIdleTx),
	}
	if s.StatementTimeout < 0 {
		e.Fail("NUDGE_WORKER_STATEMENT_TIMEOUT", "must not be negative")
	}
	// A quarter of it is the keepalive of a claim: below 100ms it would ping
	// more than it sends.
	if s.IdleTxTimeout < 0 || (s.IdleTxTimeout > 0 && s.IdleTxTimeout < 100*time.Millisecond) {
		e.Fail("NUDGE_WORKER_IDLE_TX_TIMEOUT", "must be 0 (the server's setting) or at least 100ms")
	}
	if s.Concurrency < 1 {
		e.Fail("NUDGE_WORKER_CONCURRENCY", "must be at least 1")
	}
	if s.BatchSize < 1 || s.BatchSize > 5000 {
		e.Fail("NUDGE_WORKER_BATCH", "must be between 1 and 5000")
	}
	s.MemoryLimitMiB = e.Int("NUDGE_WORKER_MEMORY_LIMIT_MB", DefaultMemoryLimitMiB(s.Concurrency, s.BatchSize))
	if s.MemoryLimitMiB < 0 {
		e.Fail("NUDGE_WORKER_MEMORY_LIMIT_MB", "must be 0 (no limit) or a size in MiB")
	}
	return s
}

// DefaultMemoryLimitMiB is the worker's soft memory limit for claims of
// batch runs, concurrency at a time: 32 MiB per 2,000 runs in flight (the
// defaults on 2 cores), at least 32. At the defaults the live heap is about
// 8 MiB, so the limit only makes the collector run before GOGC=200's growth
// would (see docs/performance.md, "Worker memory"). It is soft: a heap that
// needs more gets it, at the price of more collecting.
func DefaultMemoryLimitMiB(concurrency, batch int) int {
	return 32 * max(1, (concurrency*batch+1999)/2000)
}
