package clock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Loop calls Tick every Every of Clock's time between Start and Stop, in one
// goroutine, so ticks never overlap (a tick that comes while Tick still runs
// is dropped). The background loops of the engine (inbox SLA, inbound
// reconciler, sandbox reports, scheduler lag) are small types around one.
type Loop struct {
	Clock Clock
	Every time.Duration
	// MinWall is the shortest wall-time period on a Scaled clock, for work
	// whose pace is real rather than flow time: retrying failed processing
	// against leases that a scaled clock shrinks to milliseconds, or
	// publishing a metric. Real and Manual clocks ignore it.
	MinWall time.Duration
	Tick    func(ctx context.Context)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// ErrStarted is returned by Start on a loop that is already running.
var ErrStarted = errors.New("clock: loop already started")

// Start begins ticking; the loop runs until Stop or until ctx ends. The ticker
// exists when Start returns, so a Manual clock advanced after Start fires it.
func (l *Loop) Start(ctx context.Context) error {
	if l.Clock == nil || l.Tick == nil {
		return fmt.Errorf("clock: loop needs a clock and a tick function")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done != nil {
		return ErrStarted
	}
	t, err := newTicker(l.Clock, l.Every, l.MinWall)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.cancel, l.done = cancel, done
	go func() {
		defer close(done)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				l.Tick(ctx)
			}
		}
	}()
	return nil
}

// Stop ends the loop and waits for a running tick to return. It may be called
// more than once, and on a loop that never started; the loop can start again.
func (l *Loop) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel, l.done = nil, nil
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
