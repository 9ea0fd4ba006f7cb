package worker

import (
	"strconv"
	"time"

	"github.com/nudge-engine/nudge/internal/clock"
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
	ClockScale   float64       // NUDGE_CLOCK_SCALE: flow time runs this many times faster (1 = real time; demo)
	ClockStart   time.Time     // NUDGE_CLOCK_START: flow time at start with a scaled clock (RFC 3339; now)
}

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
		ClockScale:   1,
	}
	if v := e.String("NUDGE_CLOCK_SCALE", ""); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			e.Fail("NUDGE_CLOCK_SCALE", "is not a positive number: %q", v)
		} else {
			s.ClockScale = f
		}
	}
	if v := e.String("NUDGE_CLOCK_START", ""); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			e.Fail("NUDGE_CLOCK_START", "is not an RFC 3339 time: %q", v)
		}
		s.ClockStart = t
	}
	if s.Concurrency < 1 {
		e.Fail("NUDGE_WORKER_CONCURRENCY", "must be at least 1")
	}
	if s.BatchSize < 1 || s.BatchSize > 5000 {
		e.Fail("NUDGE_WORKER_BATCH", "must be between 1 and 5000")
	}
	return s
}

// Clock returns the configured clock: real, or scaled for demos.
func (s Settings) Clock() clock.Clock {
	if s.ClockScale == 1 {
		return clock.Real{}
	}
	start := s.ClockStart
	if start.IsZero() {
		start = time.Now()
	}
	return clock.NewScaled(start, s.ClockScale)
}
