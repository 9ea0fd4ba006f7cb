package inbox

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/inbound"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// statementLog counts what a pool sends to Postgres: statements, BEGINs and
// COMMITs/ROLLBACKs, each at least one network round trip.
type statementLog struct {
	mu   sync.Mutex
	sent []string
}

func (l *statementLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, s)
}

func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.sent
	l.sent = nil
	return out
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		q = q[:i]
	}
	if len(q) > 70 {
		q = q[:70]
	}
	return q
}

// countingDB is a second pool on d's database that logs what it sends.
func countingDB(t *testing.T, d *sqlx.DB) (*sqlx.DB, *statementLog) {
	t.Helper()
	log := &statementLog{}
	return testenv.ObservedDB(t, testenv.DBURLOf(d), func(q string) { log.add(firstLine(q)) }), log
}

// TestStatementsPerReply counts what the sink and the router send to Postgres
// for one inbound reply. The run's move runs on the router's executor, so it
// is counted: the worker's MoveRun, as production wires it, is two
// statements (the run's load and its compare-and-set).
func TestStatementsPerReply(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	cd, log := countingDB(t, e.db)
	router := NewRouter(cd, e.router.classify, e.runs, e.router.log, e.router.now)
	sink := inbound.New(cd, e.router.log, func() time.Time { return *e.now })
	sink.Connect(inbound.Routes{Replies: router})

	asked := e.now.Add(-time.Hour)
	_, run := e.waitingSubscriber(t, "100", asked)
	_, _ = e.waitingSubscriber(t, "200", asked)
	e.db.MustExec(`UPDATE flow_runs SET state = 'done' WHERE subscriber_id = (SELECT subscriber_id FROM channel_identities WHERE address = '200')`)
	// Warm the definition cache: it is read once per campaign version.
	if _, err := router.definition(ctx, "weekly-feedback", "v1"); err != nil {
		t.Fatal(err)
	}
	log.take()

	cases := []struct {
		name string
		ev   channels.Event
		max  int
	}{
		// BEGIN and COMMIT around the move and the reply: they commit
		// together, so the branch's own events follow the reply's.
		{"button resumes a waiting run", channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "100",
			ProviderEventID: "1", Payload: "like"}, 8},
		// One more: a reply nobody waits for first waits out a claim that may
		// be sending the question it answers (afterClaims).
		{"text with nobody waiting opens a conversation", text("200", "2", "где мой заказ?", time.Time{}), 9},
		{"text joins the open conversation", text("200", "3", "алло", time.Time{}), 7},
		// A new subscriber and its identity commit together or not at all
		// (subscribers.Anonymous): a transaction of its own, once per sender.
		{"text from an unknown sender", text("999", "4", "здравствуйте", time.Time{}), 13},
		{"a redelivery", text("999", "4", "здравствуйте", time.Time{}), 1},
	}
	for _, c := range cases {
		if _, err := sink.Accept(ctx, []channels.Event{c.ev}); err != nil {
			t.Fatal(err)
		}
		sent := log.take()
		t.Logf("%s: %d statements\n\t%s", c.name, len(sent), strings.Join(sent, "\n\t"))
		if len(sent) > c.max {
			t.Errorf("%s: %d statements, want at most %d", c.name, len(sent), c.max)
		}
	}
	var step string
	e.db.QueryRow(`SELECT step_id FROM flow_runs WHERE id = $1`, run).Scan(&step)
	var done, replies int
	e.db.QueryRow(`SELECT count(*) FROM inbound_events WHERE result = 'reply'`).Scan(&done)
	e.db.QueryRow(`SELECT count(*) FROM replies`).Scan(&replies)
	if step != "menu" || done != 4 || replies != 4 {
		t.Fatalf("run step %q, %d events processed, %d replies", step, done, replies)
	}
}

func TestReplyTakesTheNewestWaitingRun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	sub, older := e.waitingSubscriber(t, "100", e.now.Add(-2*time.Hour))
	var newer, newest int64
	e.db.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq, updated_at)
		VALUES ('weekly-feedback', 'v1', $1, 'event:2', 'waiting', 'wait', 7, $2) RETURNING id`, sub, e.now.Add(-time.Hour)).Scan(&newer)
	// The newest waits somewhere that is not a wait_reply step: it is skipped.
	e.db.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq, updated_at)
		VALUES ('weekly-feedback', 'v1', $1, 'event:3', 'waiting', 'menu', 2, $2) RETURNING id`, sub, e.now.Add(-time.Minute)).Scan(&newest)
	e.db.MustExec(`UPDATE flow_runs SET updated_at = $2 WHERE id = $1`, older, e.now.Add(-3*time.Hour))
	e.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id, topic, channel, status, sent_at)
		VALUES ('k-newer', $1, 'weekly-feedback', 'v1', $2, 'ask', 'service', 'telegram', 'delivered', $3)`, sub, newer, e.now.Add(-90*time.Minute))
	// Postgres would round this to a whole millisecond; the reaction time is
	// truncated like time.Duration.Milliseconds.
	at := e.now.Add(1999999600 * time.Nanosecond)
	if err := e.router.Reply(ctx, channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "100",
		ProviderEventID: "b", Payload: "like", At: at}); err != nil {
		t.Fatal(err)
	}
	for run, want := range map[int64]string{older: "waiting/wait", newer: "active/menu", newest: "waiting/menu"} {
		var state, step string
		e.db.QueryRow(`SELECT state, step_id FROM flow_runs WHERE id = $1`, run).Scan(&state, &step)
		if state+"/"+step != want {
			t.Errorf("run %d: %s/%s, want %s", run, state, step, want)
		}
	}
	var rep struct {
		RunID    int64 `db:"run_id"`
		Answered int64 `db:"answered_message_id"`
		Reaction int64 `db:"reaction_ms"`
	}
	if err := e.db.Get(&rep, `SELECT run_id, answered_message_id, reaction_ms FROM replies`); err != nil {
		t.Fatal(err)
	}
	var answered int64
	var sentAt time.Time
	e.db.QueryRow(`SELECT id, sent_at FROM messages WHERE idempotency_key = 'k-newer'`).Scan(&answered, &sentAt)
	if rep.RunID != newer || rep.Answered != answered || rep.Reaction != at.Sub(sentAt).Milliseconds() {
		t.Fatalf("reply %+v, want run %d, message %d, reaction %d", rep, newer, answered, at.Sub(sentAt).Milliseconds())
	}
}

func TestUnknownSenderGetsASubscriberAndAWindow(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	ev := text("555", "a", "добрый день", *e.now)
	ev.Name, ev.Locale = "Гость", "en"
	if err := e.router.Reply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	// An older event arriving late does not move the window back.
	if err := e.router.Reply(ctx, text("555", "b", "ещё", e.now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	var name, locale string
	var last time.Time
	var convs, replies int
	e.db.QueryRow(`SELECT s.name, s.locale, i.last_inbound_at FROM channel_identities i JOIN subscribers s ON s.id = i.subscriber_id
		WHERE i.channel = 'telegram' AND i.address = '555'`).Scan(&name, &locale, &last)
	e.db.QueryRow(`SELECT count(*) FROM conversations`).Scan(&convs)
	e.db.QueryRow(`SELECT count(*) FROM replies WHERE outcome = 'inbox' AND answered_message_id IS NULL AND reaction_ms IS NULL`).Scan(&replies)
	if name != "Гость" || locale != "en" || !last.Equal(*e.now) || convs != 1 || replies != 2 {
		t.Fatalf("subscriber %s/%s, window %v, %d conversations, %d replies", name, locale, last, convs, replies)
	}
}

func TestCustomerReplyNotifiesLivePages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	ln := pq.NewListener(testenv.DBURLOf(e.db), time.Second, time.Second, nil)
	defer ln.Close()
	if err := ln.Listen("nudge_inbox"); err != nil {
		t.Fatal(err)
	}
	sub, _ := e.waitingSubscriber(t, "100", e.now.Add(-time.Hour))
	conv, err := Open(ctx, e.db, Handoff{SubscriberID: sub, Channel: channels.Telegram, Reason: "handoff", At: *e.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.router.Reply(ctx, text("100", "n", "спасибо", e.now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"conversation_id":%d,"kind":"customer"}`, conv)
	for {
		select {
		case n := <-ln.Notify:
			if n != nil && n.Extra == want {
				var last time.Time
				e.db.QueryRow(`SELECT last_customer_at FROM conversations WHERE id = $1`, conv).Scan(&last)
				if !last.Equal(e.now.Add(time.Minute)) {
					t.Fatalf("last_customer_at %v", last)
				}
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s notification", want)
		}
	}
}

// TestReplyLoad offers replies at a fixed rate through the sink and the
// router and reports latency. It runs only with NUDGE_REPLY_LOAD=<replies/s>,
// e.g. NUDGE_REPLY_LOAD=500 GOMAXPROCS=2 go test ./inbox -run TestReplyLoad -v.
// The resumer is the test's one-statement stand-in, not the worker's.
func TestReplyLoad(t *testing.T) {
	rate, _ := strconv.Atoi(os.Getenv("NUDGE_REPLY_LOAD"))
	if rate <= 0 {
		t.Skip("set NUDGE_REPLY_LOAD=<replies per second>")
	}
	e := setup(t)
	ctx := context.Background()
	n := rate * 5
	e.db.MustExec(`INSERT INTO subscribers (external_id, name) SELECT 'l' || g, 'x' FROM generate_series(1, $1) g`, n)
	e.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'telegram', external_id FROM subscribers`)
	e.db.MustExec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq)
		SELECT 'weekly-feedback', 'v1', id, 'event:1', 'waiting', 'wait', 3 FROM subscribers`)
	e.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id, topic, channel, status, sent_at)
		SELECT 'k' || r.id, r.subscriber_id, 'weekly-feedback', 'v1', r.id, 'ask', 'service', 'telegram', 'delivered', now() - interval '1 hour'
		  FROM flow_runs r`)
	e.db.MustExec(`ANALYZE`)
	sink := inbound.New(e.db, e.router.log, nil)
	sink.Connect(inbound.Routes{Replies: e.router})
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	start := time.Now()
	for i := 0; i < n; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ev := channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: fmt.Sprintf("l%d", i+1),
				ProviderEventID: fmt.Sprint(i), Payload: "like"}
			t0 := time.Now()
			if _, err := sink.Accept(ctx, []channels.Event{ev}); err != nil {
				t.Error(err)
			}
			lat[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	var done int
	e.db.QueryRow(`SELECT count(*) FROM replies WHERE outcome = 'branch'`).Scan(&done)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d replies offered at %d/s: %d branched in %v (%.0f/s); latency p50 %v p99 %v max %v",
		n, rate, done, took.Round(time.Millisecond), float64(n)/took.Seconds(),
		lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), lat[n-1].Round(time.Microsecond))
	if done != n {
		t.Fatalf("%d of %d replies branched", done, n)
	}
}

// TestUnknownSenderRaceMakesOneSubscriber: first messages from one unknown
// sender arriving at once get one subscriber, and no subscriber is left
// without an identity.
func TestUnknownSenderRaceMakesOneSubscriber(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- e.router.Reply(ctx, text("777", "race-"+strconv.Itoa(i), "здравствуйте", *e.now))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var subs, orphans, replies int
	e.db.QueryRow(`SELECT count(DISTINCT subscriber_id) FROM channel_identities WHERE channel = 'telegram' AND address = '777'`).Scan(&subs)
	e.db.QueryRow(`SELECT count(*) FROM subscribers s WHERE NOT EXISTS (SELECT 1 FROM channel_identities i WHERE i.subscriber_id = s.id)`).Scan(&orphans)
	e.db.QueryRow(`SELECT count(DISTINCT subscriber_id) FROM replies`).Scan(&replies)
	if subs != 1 || orphans != 0 || replies != 1 {
		t.Fatalf("%d subscribers own the address, %d subscribers without identity, replies from %d subscribers; want 1, 0, 1", subs, orphans, replies)
	}
}

// TestPressDuringTheClaimThatSentTheQuestion: a claim sends the question and
// commits the run's move to its wait_reply step after; a button press that
// arrives in between waits for that commit and resumes the run, instead of
// handing the customer to a person.
func TestPressDuringTheClaimThatSentTheQuestion(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sub, run := e.waitingSubscriber(t, "400", e.now.Add(-time.Minute))
	e.db.MustExec(`UPDATE flow_runs SET state = 'active', step_id = 'ask', step_seq = 2 WHERE id = $1`, run)
	claim, done := e.pressWhileClaimed(t, run, channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "400",
		ProviderEventID: "press", Payload: "like", At: *e.now})
	claim.MustExec(`UPDATE flow_runs SET state = 'waiting', step_id = 'wait', step_seq = 3 WHERE id = $1`, run)
	if err := claim.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var step, outcome string
	var convs int
	e.db.QueryRow(`SELECT step_id FROM flow_runs WHERE id = $1`, run).Scan(&step)
	e.db.QueryRow(`SELECT outcome FROM replies WHERE subscriber_id = $1`, sub).Scan(&outcome)
	e.db.QueryRow(`SELECT count(*) FROM conversations WHERE subscriber_id = $1`, sub).Scan(&convs)
	if step != "menu" || outcome != "branch" || convs != 0 {
		t.Fatalf("run at %q, reply outcome %q, %d conversations; want menu, branch, 0", step, outcome, convs)
	}
}

// TestPressInAnOpenConversationShowsItsLabel: a press no waiting run
// explains (here: the customer is already talking to a manager) and whose
// provider sends only the id is shown with the text of the button the
// customer saw.
func TestPressInAnOpenConversationShowsItsLabel(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	sub, _ := e.waitingSubscriber(t, "500", e.now.Add(-time.Hour))
	e.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, status, sent_at, content)
		VALUES ('ask-500', $1, 'service', 'telegram', 'sent', $2, '{"text":"Как вам еда?","buttons":[{"id":"like","text":"👍 Вкусно"},{"id":"dislike","text":"👎 Не очень"}]}')`,
		sub, e.now.Add(-time.Hour))
	if err := e.router.Reply(ctx, text("500", "t1", "позовите человека", *e.now)); err != nil {
		t.Fatal(err)
	}
	if err := e.router.Reply(ctx, channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "500",
		ProviderEventID: "p1", Payload: "dislike", At: *e.now}); err != nil {
		t.Fatal(err)
	}
	var label, item string
	e.db.QueryRow(`SELECT label FROM replies WHERE provider_event_id = 'p1'`).Scan(&label)
	e.db.QueryRow(`SELECT i.text FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id
		WHERE c.subscriber_id = $1 AND i.kind = 'customer' ORDER BY i.id DESC LIMIT 1`, sub).Scan(&item)
	if label != "👎 Не очень" || !strings.Contains(item, "👎 Не очень") {
		t.Fatalf("label %q, conversation item %q; want the button's text", label, item)
	}
}

// TestPressDuringTheHandOffShowsItsLabel: a customer presses 👎 a second
// time while the claim that runs the hand-off step (opened by the first
// press) is committing; the press waits for the claim and joins the
// conversation it opened (the customer has another run due, so the router
// reads them again after the wait). Its provider sends only the id (Viber,
// VK), and the manager reads the button's text, not [dislike].
func TestPressDuringTheHandOffShowsItsLabel(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	sub, run := e.waitingSubscriber(t, "600", e.now.Add(-time.Hour))
	e.db.MustExec(`UPDATE messages SET content = '{"text":"Как вам еда?","buttons":[{"id":"like","text":"👍 Вкусно"},{"id":"dislike","text":"👎 Не очень"}]}'
		WHERE subscriber_id = $1`, sub)
	e.db.MustExec(`UPDATE flow_runs SET state = 'active', step_id = 'care', step_seq = 4 WHERE id = $1`, run)
	// Another campaign's run is due for them too (active, nobody holds it).
	e.db.MustExec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq)
		VALUES ('weekly-feedback', 'v1', $1, 'event:2', 'active', 'ask', 1)`, sub)
	claim, done := e.pressWhileClaimed(t, run, channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "600",
		ProviderEventID: "again", Payload: "dislike", At: *e.now})
	if _, err := Open(ctx, claim, Handoff{SubscriberID: sub, Channel: channels.Telegram, Queue: "care", Reason: "handoff",
		RunIDs: []int64{run}, At: *e.now}); err != nil {
		t.Fatal(err)
	}
	claim.MustExec(`UPDATE flow_runs SET state = 'paused' WHERE id = $1`, run)
	if err := claim.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var label, item, outcome string
	var convs int
	e.db.QueryRow(`SELECT label, outcome FROM replies WHERE provider_event_id = 'again'`).Scan(&label, &outcome)
	e.db.QueryRow(`SELECT i.text FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id
		WHERE c.subscriber_id = $1 AND i.kind = 'customer'`, sub).Scan(&item)
	e.db.QueryRow(`SELECT count(*) FROM conversations WHERE subscriber_id = $1`, sub).Scan(&convs)
	if outcome != "inbox" || convs != 1 || label != "👎 Не очень" || item != "👎 Не очень" {
		t.Fatalf("outcome %q, %d conversations, label %q, conversation item %q; want inbox, 1 and the button's text", outcome, convs, label, item)
	}
}

// TestReplyRoutedTwiceActsOnce: an event the inbound reconciler routes a
// second time (its claim ran out while the first routing went on, or the
// process died before marking it done) changes nothing more: the customer's
// answer moved their run once and opens no conversation (it was one with
// late_reply, or unmatched, beside the branch it took), and a text to a
// manager is in the conversation once.
func TestReplyRoutedTwiceActsOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	sub, run := e.waitingSubscriber(t, "700", e.now.Add(-time.Hour))
	press := channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "700", ProviderEventID: "once", Payload: "like", At: *e.now}
	for range 2 {
		if err := e.router.Reply(ctx, press); err != nil {
			t.Fatal(err)
		}
	}
	var step string
	var convs, replies int
	e.db.QueryRow(`SELECT step_id FROM flow_runs WHERE id = $1`, run).Scan(&step)
	e.db.QueryRow(`SELECT count(*) FROM conversations WHERE subscriber_id = $1`, sub).Scan(&convs)
	e.db.QueryRow(`SELECT count(*) FROM replies WHERE subscriber_id = $1`, sub).Scan(&replies)
	if step != "menu" || convs != 0 || replies != 1 {
		t.Fatalf("run at %q, %d conversations, %d replies; want menu, 0, 1", step, convs, replies)
	}
	words := text("700", "words", "позовите человека", e.now.Add(time.Minute))
	for range 2 {
		if err := e.router.Reply(ctx, words); err != nil {
			t.Fatal(err)
		}
	}
	var items int
	e.db.QueryRow(`SELECT count(*) FROM conversations WHERE subscriber_id = $1`, sub).Scan(&convs)
	e.db.QueryRow(`SELECT count(*) FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id
		WHERE c.subscriber_id = $1 AND i.kind = 'customer'`, sub).Scan(&items)
	if convs != 1 || items != 1 {
		t.Fatalf("after a text routed twice: %d conversations, %d customer items; want 1, 1", convs, items)
	}
}

// pressWhileClaimed holds run under a claim's row lock (as a claim working
// it does), routes ev in the background and checks that the routing waits
// for the claim; the caller commits the claim and reads done.
func (e env) pressWhileClaimed(t *testing.T, run int64, ev channels.Event) (*sqlx.Tx, <-chan error) {
	t.Helper()
	claim, err := e.db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = claim.Rollback() })
	claim.MustExec(`SELECT id FROM flow_runs WHERE id = $1 FOR NO KEY UPDATE`, run)
	done := make(chan error, 1)
	go func() { done <- e.router.Reply(context.Background(), ev) }()
	select {
	case err := <-done:
		t.Fatalf("the press did not wait for the claim: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	return claim, done
}
