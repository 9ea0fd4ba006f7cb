package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

func newSubscriber(t testing.TB, d *sqlx.DB, external string) int64 {
	t.Helper()
	id, err := consent.EnsureSubscriber(context.Background(), d, consent.Customer{ExternalID: external, Name: "Анна"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// ledgerSetup gives a fresh database, a ledger and one subscriber on it.
func ledgerSetup(t *testing.T, external string) (*sqlx.DB, *consent.Ledger, int64) {
	t.Helper()
	d := testenv.DB(t)
	return d, consent.NewLedger(), newSubscriber(t, d, external)
}

func TestLedgerCurrentAndHistory(t *testing.T) {
	t.Parallel()
	d, l, sub := ledgerSetup(t, "c-1")
	ctx := context.Background()

	change := func(ch channels.Kind, topic consent.Topic) consent.Change {
		return consent.Change{SubscriberID: sub, Channel: ch, Topic: topic, Source: consent.SourceAPI,
			Proof: consent.Proof{IP: "203.0.113.7", UserAgent: "test", TextVersion: "v1"}}
	}
	steps := []struct {
		name    string
		grant   bool
		change  consent.Change
		ch      channels.Kind
		topic   consent.Topic
		current bool
	}{
		{"nothing yet", false, consent.Change{}, channels.Telegram, consent.TopicMarketing, false},
		{"grant telegram marketing", true, change(channels.Telegram, consent.TopicMarketing), channels.Telegram, consent.TopicMarketing, true},
		{"service stays separate", false, consent.Change{}, channels.Telegram, consent.TopicService, false},
		{"other channel untouched", false, consent.Change{}, channels.Viber, consent.TopicMarketing, false},
		{"all-channel grant reaches viber", true, change(consent.AllChannels, consent.TopicService), channels.Viber, consent.TopicService, true},
		{"revoke viber service only", false, change(channels.Viber, consent.TopicService), channels.Viber, consent.TopicService, false},
		{"telegram service still from *", false, consent.Change{}, channels.Telegram, consent.TopicService, true},
		{"all-channel revoke wins over older channel grant", false, change(consent.AllChannels, consent.TopicMarketing), channels.Telegram, consent.TopicMarketing, false},
		{"re-grant needs a new event", true, change(channels.Telegram, consent.TopicMarketing), channels.Telegram, consent.TopicMarketing, true},
	}
	n := 0
	for _, s := range steps {
		if s.change.SubscriberID != 0 {
			var err error
			if s.grant {
				err = l.Grant(ctx, d, s.change)
			} else {
				err = l.Revoke(ctx, d, s.change)
			}
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			n++
		}
		got, err := l.Current(ctx, d, sub, s.ch, s.topic)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.current {
			t.Errorf("%s: Current(%s, %s) = %v, want %v", s.name, s.ch, s.topic, got, s.current)
		}
	}
	h, err := l.History(ctx, d, sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != n {
		t.Fatalf("history has %d events, want %d", len(h), n)
	}
	var p consent.Proof
	if err := json.Unmarshal(h[0].Proof, &p); err != nil || p.IP != "203.0.113.7" || p.TextVersion != "v1" {
		t.Errorf("proof = %+v (%v)", p, err)
	}
	st, err := l.State(ctx, d, sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 4 { // telegram/marketing, */service, viber/service, */marketing
		t.Errorf("state has %d rows: %+v", len(st), st)
	}
}

func TestLedgerRejectsBadChanges(t *testing.T) {
	t.Parallel()
	d, l, sub := ledgerSetup(t, "c-1")
	for _, c := range []consent.Change{
		{SubscriberID: 0, Channel: channels.Telegram, Topic: consent.TopicService, Source: consent.SourceAPI},
		{SubscriberID: sub, Channel: "icq", Topic: consent.TopicService, Source: consent.SourceAPI},
		{SubscriberID: sub, Channel: channels.Telegram, Topic: "spam", Source: consent.SourceAPI},
		{SubscriberID: sub, Channel: channels.Telegram, Topic: consent.TopicService, Source: "guess"},
	} {
		if err := l.Grant(context.Background(), d, c); !errors.Is(err, consent.ErrInvalidChange) {
			t.Errorf("Grant(%+v) = %v, want ErrInvalidChange", c, err)
		}
	}
}

// TestConsentRace runs a grant and a revoke for the same subscriber in
// concurrent transactions, many times. Whichever commits later must be the
// current state, and both must be in the ledger.
func TestConsentRace(t *testing.T) {
	t.Parallel()
	d, l, sub := ledgerSetup(t, "c-race")
	ctx := context.Background()
	const iterations = 200
	outcomes := map[bool]int{}
	for i := 0; i < iterations; i++ {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			order    []bool // commit order of granted values
			start    = make(chan struct{})
			failures []error
		)
		for _, grant := range []bool{true, false} {
			wg.Add(1)
			go func(grant bool) {
				defer wg.Done()
				<-start
				err := db.WithTx(ctx, d, func(tx *sqlx.Tx) error {
					c := consent.Change{SubscriberID: sub, Channel: channels.Telegram, Topic: consent.TopicMarketing, Source: consent.SourceAPI}
					var err error
					if grant {
						err = l.Grant(ctx, tx, c)
					} else {
						err = l.Revoke(ctx, tx, c)
					}
					if err != nil {
						return err
					}
					// Record the commit order while still holding the
					// subscriber's lock: commit happens right after, before
					// the other writer can proceed.
					mu.Lock()
					order = append(order, grant)
					mu.Unlock()
					return nil
				})
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}(grant)
		}
		close(start)
		wg.Wait()
		if len(failures) > 0 {
			t.Fatal(failures)
		}
		got, err := l.Current(ctx, d, sub, channels.Telegram, consent.TopicMarketing)
		if err != nil {
			t.Fatal(err)
		}
		if want := order[1]; got != want {
			t.Fatalf("iteration %d: commit order %v, current = %v, want %v", i, order, got, want)
		}
		outcomes[got]++
	}
	h, err := l.History(ctx, d, sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2*iterations {
		t.Fatalf("ledger has %d events, want %d", len(h), 2*iterations)
	}
	t.Logf("later writer was grant %d times, revoke %d times", outcomes[true], outcomes[false])
}
