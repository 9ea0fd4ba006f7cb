package consent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// step is one write to the ledger (or the identity), made through the
// production writer of that kind of event.
type step struct {
	do    string // grant, revoke (Ledger), optout (RevokeChannel), import, block, unblock
	ch    channels.Kind
	topic consent.Topic
	yes   bool // import: the statement
}

func grant(ch channels.Kind, t consent.Topic) step  { return step{do: "grant", ch: ch, topic: t} }
func revoke(ch channels.Kind, t consent.Topic) step { return step{do: "revoke", ch: ch, topic: t} }

var (
	tg, vb = channels.Telegram, channels.Viber
	all    = consent.AllChannels
	mkt    = consent.TopicMarketing
	svc    = consent.TopicService
)

// TestCurrentRule is the one table of the rule "is consent current for
// (subscriber, channel, topic)". Every case is asked through each path
// production takes: Ledger.Current (the API), Current + Grants.On (the policy
// gate), Sendable (the worker's re-read at send time, which adds the blocked
// address), and AudienceSQL with and without a channel list (the scheduler).
func TestCurrentRule(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

	cases := []struct {
		name     string
		steps    []step
		ch       channels.Kind
		topic    consent.Topic
		current  bool // every path but Sendable
		sendable bool // current and the telegram address not blocked
		any      bool // AudienceSQL without channels: current on some channel it has events for
	}{
		{"no events", nil, tg, mkt, false, false, false},
		{"grant", []step{grant(tg, mkt)}, tg, mkt, true, true, true},
		{"grant on another channel", []step{grant(vb, mkt)}, tg, mkt, false, false, true},
		{"topic mismatch", []step{grant(tg, svc)}, tg, mkt, false, false, false},
		{"revoke", []step{grant(tg, mkt), revoke(tg, mkt)}, tg, mkt, false, false, false},
		{"later events win", []step{grant(tg, mkt), revoke(tg, mkt), grant(tg, mkt)}, tg, mkt, true, true, true},
		{"'*' grant covers every channel", []step{grant(all, mkt)}, tg, mkt, true, true, true},
		{"channel revoke newer than '*' grant", []step{grant(all, mkt), revoke(tg, mkt)}, tg, mkt, false, false, true},
		{"'*' grant newer than channel revoke", []step{revoke(tg, mkt), grant(all, mkt)}, tg, mkt, true, true, true},
		{"'*' revoke newer than channel grant", []step{grant(tg, mkt), revoke(all, mkt)}, tg, mkt, false, false, false},
		{"'*' revoke leaves a newer channel grant", []step{revoke(all, mkt), grant(vb, mkt)}, vb, mkt, true, true, true},
		{"opt-out revokes marketing", []step{grant(all, mkt), grant(all, svc), {do: "optout", ch: tg}}, tg, mkt, false, false, true},
		{"opt-out revokes service", []step{grant(all, mkt), grant(all, svc), {do: "optout", ch: tg}}, tg, svc, false, false, true},
		{"opt-out leaves other channels", []step{grant(all, mkt), {do: "optout", ch: tg}}, vb, mkt, true, true, true},
		{"block revokes the channel", []step{grant(tg, mkt), {do: "block", ch: tg}}, tg, mkt, false, false, false},
		{"blocked address refuses a later grant", []step{grant(tg, mkt), {do: "block", ch: tg}, grant(tg, mkt)}, tg, mkt, true, false, true},
		{"unblock and a new grant", []step{{do: "block", ch: tg}, {do: "unblock", ch: tg}, grant(tg, mkt)}, tg, mkt, true, true, true},
		{"unblock alone grants nothing", []step{grant(tg, mkt), {do: "block", ch: tg}, {do: "unblock", ch: tg}}, tg, mkt, false, false, false},
		{"import grant", []step{{do: "import", topic: mkt, yes: true}}, vb, mkt, true, true, true},
		{"import revoke after a channel grant", []step{grant(tg, mkt), {do: "import", topic: mkt, yes: false}}, tg, mkt, false, false, false},
	}

	l := consent.NewLedger()
	subs := make([]int64, len(cases))
	for i, c := range cases {
		sub := newSubscriber(t, d, fmt.Sprintf("rule-%d", i))
		subs[i] = sub
		addr := fmt.Sprintf("tg-%d", i)
		d.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2), ($1, 'viber', $3)`,
			sub, addr, fmt.Sprintf("vb-%d", i))
		for _, s := range c.steps {
			if err := apply(ctx, d, l, sub, addr, s, at); err != nil {
				t.Fatalf("%s: %s: %v", c.name, s.do, err)
			}
		}
	}

	// Each path once for the whole table, as production asks for many
	// subscribers at once.
	grants := map[consent.Topic]map[int64]consent.Grants{}
	for _, topic := range consent.Topics {
		g, err := consent.Current(ctx, d, subs, topic)
		if err != nil {
			t.Fatal(err)
		}
		grants[topic] = g
	}
	rcpts := make([]consent.Recipient, len(cases))
	for i, c := range cases {
		addr := fmt.Sprintf("tg-%d", i)
		if c.ch == vb {
			addr = fmt.Sprintf("vb-%d", i)
		}
		rcpts[i] = consent.Recipient{SubscriberID: subs[i], Channel: c.ch, Address: addr, Topic: c.topic}
	}
	sendable, err := consent.Sendable(ctx, d, rcpts)
	if err != nil {
		t.Fatal(err)
	}
	audience := func(sub int64, chans []string, topic consent.Topic) bool {
		anyOf := ""
		args := []any{sub, string(topic)}
		if chans != nil {
			anyOf, args = "$3", append(args, pq.Array(chans))
		}
		var n int
		if err := d.Get(&n, `SELECT count(*) FROM subscribers s WHERE s.id = $1 AND `+consent.AudienceSQL("s.id", anyOf, "$2"), args...); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	for i, c := range cases {
		ledger, err := l.Current(ctx, d, subs[i], c.ch, c.topic)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{
			"Ledger.Current":      ledger,
			"Current/Grants.On":   grants[c.topic][subs[i]].On(c.ch),
			"AudienceSQL(chans)":  audience(subs[i], []string{string(c.ch)}, c.topic),
			"Sendable":            sendable[i],
			"AudienceSQL(no ch.)": audience(subs[i], nil, c.topic),
		}
		for path, v := range got {
			want := c.current
			switch path {
			case "Sendable":
				want = c.sendable
			case "AudienceSQL(no ch.)":
				want = c.any
			}
			if v != want {
				t.Errorf("%s: %s = %v, want %v", c.name, path, v, want)
			}
		}
	}
}

func apply(ctx context.Context, d *sqlx.DB, l *consent.Ledger, sub int64, addr string, s step, at time.Time) error {
	return db.WithTx(ctx, d, func(tx *sqlx.Tx) error {
		ch := consent.Change{SubscriberID: sub, Channel: s.ch, Topic: s.topic, Source: consent.SourceAPI}
		switch s.do {
		case "grant":
			return l.Grant(ctx, tx, ch)
		case "revoke":
			return l.Revoke(ctx, tx, ch)
		case "optout":
			return consent.RevokeChannel(ctx, tx, sub, s.ch, consent.SourceDialog, consent.Proof{Keyword: "STOP"})
		case "import":
			_, err := consent.Import(ctx, tx, []consent.Imported{{SubscriberID: sub, Topic: s.topic, Granted: s.yes,
				Proof: json.RawMessage(`{"text":"paper form"}`)}})
			return err
		case "block":
			return consent.Block(ctx, tx, s.ch, "", addr, at, consent.Proof{Reason: "provider_blocked"})
		case "unblock":
			return consent.Unblock(ctx, tx, s.ch, "", addr)
		}
		return fmt.Errorf("unknown step %q", s.do)
	})
}

// Two opt-outs and an import for the same subscriber in a row each write
// what they should: RevokeChannel both topics in Topics order, Import only
// what differs from the current '*' state.
func TestRevokeChannelAndImportWrites(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	sub := newSubscriber(t, d, "writes")
	if err := consent.RevokeChannel(ctx, d, sub, tg, consent.SourceDialog, consent.Proof{Keyword: "стоп"}); err != nil {
		t.Fatal(err)
	}
	imp := []consent.Imported{{SubscriberID: sub, Topic: mkt, Granted: true}, {SubscriberID: sub, Topic: svc, Granted: false}}
	changed, err := consent.Import(ctx, d, imp)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 {
		t.Errorf("first import changed %v, want the subscriber twice", changed)
	}
	if changed, err = consent.Import(ctx, d, imp); err != nil || len(changed) != 0 {
		t.Errorf("second import changed %v (%v), want nothing", changed, err)
	}
	h, err := consent.NewLedger().History(ctx, d, sub)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h {
		got = append(got, fmt.Sprintf("%s/%s/%v/%s", e.Channel, e.Topic, e.Granted, e.Source))
	}
	want := []string{"telegram/service/false/dialog", "telegram/marketing/false/dialog", "*/marketing/true/import", "*/service/false/import"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("history %v, want %v", got, want)
	}

	for _, bad := range []struct {
		name string
		err  error
	}{
		{"unknown channel", consent.RevokeChannel(ctx, d, sub, "pigeon", consent.SourceDialog, consent.Proof{})},
		{"unknown source", consent.RevokeChannel(ctx, d, sub, tg, "rumour", consent.Proof{})},
		{"no subscriber", consent.RevokeChannel(ctx, d, 0, tg, consent.SourceDialog, consent.Proof{})},
		{"import topic", func() error {
			_, err := consent.Import(ctx, d, []consent.Imported{{SubscriberID: sub, Topic: "news", Granted: true}})
			return err
		}()},
	} {
		if !errors.Is(bad.err, consent.ErrInvalidChange) {
			t.Errorf("%s: error %v, want ErrInvalidChange", bad.name, bad.err)
		}
	}
}

// TryLockShared takes a subscriber's shared lock beside other senders, and
// refuses it — without waiting — while a consent writer holds the lock or
// waits for it (the writer waits on a sender that took the lock first).
func TestTryLockSharedYieldsToWriters(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	tx := func() *sqlx.Tx {
		x, err := d.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = x.Rollback() })
		return x
	}
	try := func(q *sqlx.Tx, ids ...int64) map[int64]bool {
		t.Helper()
		got, err := consent.TryLockShared(ctx, q, ids)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	sender := tx()
	if got := try(sender, 1, 2); !got[1] || !got[2] {
		t.Fatalf("free locks refused: %v", got)
	}
	other := tx()
	if got := try(other, 1); !got[1] {
		t.Fatal("a second sender was refused the shared lock")
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	// A writer on 1 waits for the sender.
	writer := tx()
	locked := make(chan error, 1)
	go func() { locked <- consent.Lock(ctx, writer, []int64{1}) }()
	testenv.WaitFor(t, "the writer to wait", 5*time.Second, func() bool {
		var waiting int
		if err := d.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`); err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	})
	start := time.Now()
	if got := try(tx(), 1, 2); got[1] || !got[2] {
		t.Fatalf("with a writer waiting on 1: %v, want 1 refused and 2 taken", got)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the try waited %v", took)
	}
	if err := sender.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	if got := try(tx(), 1); got[1] {
		t.Fatal("a sender took the lock a writer holds")
	}
}
