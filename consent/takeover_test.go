package consent_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// senderHolding begins a sender's transaction on its own connection, takes
// sub's shared consent lock and re-reads consent, as the worker does before
// a send. The session then stays idle in the transaction.
func senderHolding(t *testing.T, d *sqlx.DB, sub int64) *sqlx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := d.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if err := consent.LockShared(ctx, tx, []int64{sub}); err != nil {
		t.Fatal(err)
	}
	ok, err := consent.Sendable(ctx, tx, []consent.Recipient{{SubscriberID: sub, Channel: channels.Telegram,
		Address: "42", Topic: consent.TopicMarketing}})
	if err != nil || !ok[0] {
		t.Fatalf("re-read: %v %v", ok, err)
	}
	return tx
}

func grantedSubscriber(t *testing.T, d *sqlx.DB, external string) int64 {
	t.Helper()
	sub := newSubscriber(t, d, external)
	if err := consent.NewLedger().Grant(context.Background(), d, consent.Change{SubscriberID: sub,
		Channel: consent.AllChannels, Topic: consent.TopicMarketing, Source: consent.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	return sub
}

// optOutInTx opts sub out on Telegram in a transaction of its own. The server
// has no idle timeout here: without the takeover it would wait for the
// holder forever (ctx bounds a broken run).
func optOutInTx(d *sqlx.DB, sub int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return db.WithTx(ctx, d, func(tx *sqlx.Tx) error {
		return consent.RevokeChannel(ctx, tx, sub, channels.Telegram, consent.SourceDialog, consent.Proof{Keyword: "STOP"})
	})
}

// An opt-out does not wait for a sender that holds the lock and does
// nothing (a frozen worker): it ends the sender's session and commits, and
// the sender can send nothing more under that transaction.
func TestOptOutEndsAStaleSender(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	sub := grantedSubscriber(t, d, "stale-1")
	holder := senderHolding(t, d, sub)
	if err := optOutInTx(d, sub); err != nil {
		t.Fatalf("opt-out: %v", err)
	}
	if _, err := holder.Exec(`SELECT 1`); err == nil {
		t.Fatal("the stale sender's session survived the opt-out")
	}
	ok, err := consent.Sendable(context.Background(), d, []consent.Recipient{{SubscriberID: sub, Channel: channels.Telegram,
		Address: "42", Topic: consent.TopicMarketing}})
	if err != nil || ok[0] {
		t.Fatalf("after the opt-out the subscriber is sendable: %v %v", ok, err)
	}
}

// A sender whose session is at work (a statement running) is not stale:
// the opt-out waits for it to commit, and the sender's transaction ends
// normally.
func TestOptOutWaitsForASenderAtWork(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	sub := grantedSubscriber(t, d, "busy-1")
	holder := senderHolding(t, d, sub)
	worked := make(chan error, 1)
	go func() {
		// Three times consent.StaleSender in one statement.
		_, err := holder.Exec(`SELECT pg_sleep($1::float8)`, 3*consent.StaleSender.Seconds())
		if err == nil {
			err = holder.Commit()
		}
		worked <- err
	}()
	// The opt-out starts while the statement runs (the holder holds the
	// lock from before it); it can only commit after the holder's commit.
	testenv.WaitFor(t, "the sender's statement to run", 30*time.Second, func() bool {
		var n int
		_ = d.Get(&n, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%' AND state = 'active'`)
		return n > 0
	})
	if err := optOutInTx(d, sub); err != nil {
		t.Fatalf("opt-out: %v", err)
	}
	if err := <-worked; err != nil {
		t.Fatalf("the working sender was ended: %v", err)
	}
}
