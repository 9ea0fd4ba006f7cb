package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

// optOut is one STOP and when it committed.
type optOut struct {
	sub       int64
	committed time.Time
	// wait: the try that committed, from its start (the time it waited
	// for sends in progress); span: from the first try, retries through
	// an outage of the database included.
	wait, span time.Duration
}

// racer sends STOPs through consent.Binder.OptOut (the path of every
// provider's inbound opt-out) for subscribers the blast is about to reach,
// while it runs, from a few goroutines at once.
type racer struct {
	s      *stack
	every  time.Duration
	max    int
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	done   []optOut
	failed []string
}

// raceOptOuts starts goroutines that each send a STOP every `every` until
// max have committed or stopRacing.
func (s *stack) raceOptOuts(goroutines int, every time.Duration, max int) *racer {
	r := &racer{s: s, every: every, max: max, stop: make(chan struct{})}
	binder := consent.NewBinder(s.d, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	for g := 0; g < goroutines; g++ {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				select {
				case <-r.stop:
					return
				case <-time.After(every):
				}
				r.mu.Lock()
				enough := len(r.done) >= r.max
				r.mu.Unlock()
				if enough {
					return
				}
				sub, ok := r.next()
				if !ok {
					continue
				}
				r.optOut(binder, sub)
			}
		}()
	}
	return r
}

// next picks a subscriber whose run is still due and who has not been
// handed a message yet, among the next few the claims will take (claims
// take the oldest runs first), so the STOP races a send in progress.
func (r *racer) next() (int64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sub int64
	err := r.s.d.GetContext(ctx, &sub, `
SELECT subscriber_id FROM (
	SELECT r.subscriber_id, r.id FROM flow_runs r
	 WHERE r.state IN ('active', 'waiting')
	   AND NOT EXISTS (SELECT 1 FROM chaos_provider_calls c WHERE c.address = $1 || r.subscriber_id)
	 ORDER BY r.next_at, r.id LIMIT 200) n
 ORDER BY random() LIMIT 1`, r.s.prefix)
	return sub, err == nil
}

// optOut sends subscriber sub's STOP, retrying while the database does not
// answer, and records when it committed.
func (r *racer) optOut(b *consent.Binder, sub int64) {
	ev := channels.Event{Type: channels.EventOptOut, Channel: r.s.channel, From: r.s.address(sub),
		ProviderEventID: fmt.Sprintf("chaos-stop-%d", sub)}
	start := time.Now()
	var try time.Time
	for {
		try = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := b.OptOut(ctx, ev)
		cancel()
		if err == nil {
			break
		}
		if time.Since(start) > 2*time.Minute {
			r.mu.Lock()
			r.failed = append(r.failed, fmt.Sprintf("subscriber %d: %v", sub, err))
			r.mu.Unlock()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Taken after OptOut returned, so a provider call stamped later than
	// this came after the commit: the STOP was overtaken.
	now := time.Now()
	r.mu.Lock()
	r.done = append(r.done, optOut{sub: sub, committed: now, wait: now.Sub(try), span: now.Sub(start)})
	r.mu.Unlock()
}

// stopRacing ends the goroutines and returns the committed STOPs.
func (r *racer) stopRacing() []optOut {
	close(r.stop)
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.failed {
		r.s.t.Errorf("an opt-out never committed: %s", f)
	}
	return r.done
}

// overtaken counts provider calls to an opted-out subscriber stamped after
// their STOP committed, and logs each with how long after the commit it came.
func (s *stack) overtaken(outs []optOut) int {
	s.t.Helper()
	addrs := make([]string, len(outs))
	ats := make([]string, len(outs))
	for i, o := range outs {
		addrs[i], ats[i] = s.address(o.sub), o.committed.Format(time.RFC3339Nano)
	}
	var late []struct {
		Address string    `db:"address"`
		At      time.Time `db:"at"`
		After   float64   `db:"after"`
	}
	if err := s.d.Select(&late, `SELECT c.address, c.at, EXTRACT(EPOCH FROM c.at - o.committed::timestamptz)::float8 AS after
	  FROM chaos_provider_calls c
	  JOIN unnest($1::text[], $2::text[]) o(address, committed) ON o.address = c.address
	 WHERE c.at > o.committed::timestamptz`, pq.Array(addrs), pq.Array(ats)); err != nil {
		s.t.Fatal(err)
	}
	for _, l := range late {
		s.t.Logf("a message to %s reached the provider at %s, %.3fs after the STOP committed",
			l.Address, l.At.Format("15:04:05.000"), l.After)
	}
	return len(late)
}
