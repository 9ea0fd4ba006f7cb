package inbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// sqlRuns moves runs the way the runtime does: a compare-and-set on the
// run's step sequence in the caller's executor, so a reply and a timeout can
// never both win. It records the moves and wakes.
type sqlRuns struct {
	mu    sync.Mutex
	moves []string // "run>step"
	woken int
}

func (r *sqlRuns) MoveRun(ctx context.Context, q db.Executor, runID int64, seq int, to string, note map[string]any) (bool, bool, error) {
	b, err := json.Marshal(note)
	if err != nil {
		return false, false, err
	}
	res, err := q.ExecContext(ctx, `UPDATE flow_runs SET step_id = $3, step_seq = step_seq + 1,
		state = CASE WHEN $3 = '' THEN 'done' ELSE 'active' END, context = context || $4::jsonb
		WHERE id = $1 AND step_seq = $2`, runID, seq, to, string(b))
	if err != nil {
		return false, false, err
	}
	n, _ := res.RowsAffected()
	if n == 1 {
		r.mu.Lock()
		r.moves = append(r.moves, fmt.Sprintf("%d>%s", runID, to))
		r.mu.Unlock()
	}
	return n == 1, n == 1 && to != "", nil
}

func (r *sqlRuns) PauseRun(ctx context.Context, q db.Executor, runID int64, seq int) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE flow_runs SET state = 'paused', step_seq = step_seq + 1 WHERE id = $1 AND step_seq = $2`, runID, seq)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (r *sqlRuns) Wake(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.woken++
}

func timeout(t *testing.T, d *sqlx.DB, runID int64, seq int) bool {
	res, err := d.Exec(`UPDATE flow_runs SET step_id = 'reminder', step_seq = step_seq + 1, state = 'active'
		WHERE id = $1 AND step_seq = $2 AND state = 'waiting'`, runID, seq)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := res.RowsAffected()
	return n == 1
}

var feedback = campaigns.Definition{
	ID: "weekly-feedback", Topic: campaigns.TopicService,
	Steps: []campaigns.Step{
		{ID: "ask", Send: &campaigns.SendStep{Template: "ask"}},
		{ID: "wait", WaitReply: &campaigns.WaitReplyStep{Timeout: campaigns.Duration(48 * time.Hour), OnTimeout: "reminder",
			Branches: []campaigns.ReplyBranch{
				{Button: "like", Goto: "menu"}, {Button: "dislike", Goto: "care"},
				{Sentiment: "positive", Goto: "menu"}, {Sentiment: "negative", Goto: "care"},
			}}},
		{ID: "menu", Send: &campaigns.SendStep{Template: "menu"}},
		{ID: "care", Handoff: &campaigns.HandoffStep{Queue: "care"}},
		{ID: "reminder", Send: &campaigns.SendStep{Template: "reminder"}},
	},
}

type env struct {
	db     *sqlx.DB
	router *Router
	svc    *Service
	runs   *sqlRuns
	sent   *[]channels.Message
	now    *time.Time
}

// outboxFunc is the engine's outbox as the inbox sees it: it records the
// message as worker.Engine.SendText does (once per key) and hands it to f.
type outboxFunc struct {
	db *sqlx.DB
	f  func(context.Context, channels.Message) error
}

func (o outboxFunc) SendText(ctx context.Context, sub int64, m channels.Message) (int64, bool, error) {
	var id int64
	err := o.db.GetContext(ctx, &id, `INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, address, status, content)
		VALUES ($1, $2, 'service', $3, $4, 'sent', json_build_object('text', $5::text)) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
		m.IdempotencyKey, sub, m.Channel, m.To, m.Text)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, o.f(ctx, m)
}

func setup(t *testing.T) env {
	t.Helper()
	d := testenv.DB(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	res := &sqlRuns{}
	var sent []channels.Message
	var mu sync.Mutex
	out := outboxFunc{db: d, f: func(_ context.Context, m channels.Message) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, m)
		return nil
	}}
	def, _ := json.Marshal(feedback)
	d.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('weekly-feedback', 'v1')`)
	d.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('weekly-feedback', 'v1', 1, $1, '')`, def)
	return env{db: d, router: NewRouter(d, classify.New(nil), res, log, func() time.Time { return now }),
		svc: NewService(d, out, res, log, func() time.Time { return now }), runs: res, sent: &sent, now: &now}
}

// subscriber with a Telegram identity and a run waiting in "wait", plus the
// question it answers sent at `asked`.
func (e env) waitingSubscriber(t *testing.T, chat string, asked time.Time) (subID, runID int64) {
	e.db.QueryRow(`INSERT INTO subscribers (external_id, name) VALUES ($1, 'Анна') RETURNING id`, "c-"+chat).Scan(&subID)
	e.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2)`, subID, chat)
	e.db.QueryRow(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq)
		VALUES ('weekly-feedback', 'v1', $1, 'event:1', 'waiting', 'wait', 3) RETURNING id`, subID).Scan(&runID)
	e.db.MustExec(`INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id, topic, channel, status, content, sent_at)
		VALUES ($1, $2, 'weekly-feedback', 'v1', $3, 'ask', 'service', 'telegram', 'delivered', '{"text":"Как вам еда?"}', $4)`,
		"k-"+chat, subID, runID, asked)
	return subID, runID
}

func text(chat, id, s string, at time.Time) channels.Event {
	return channels.Event{Type: channels.EventText, Channel: channels.Telegram, From: chat, ProviderEventID: id, Text: s, At: at}
}

func TestReplyResumesTheWaitingRun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	asked := e.now.Add(-30 * time.Minute)
	_, run1 := e.waitingSubscriber(t, "100", asked)
	_, run2 := e.waitingSubscriber(t, "200", asked)
	_, run3 := e.waitingSubscriber(t, "300", asked)
	for _, ev := range []channels.Event{
		{Type: channels.EventButton, Channel: channels.Telegram, From: "100", ProviderEventID: "1", Payload: "like", At: *e.now},
		text("200", "2", "Суп был холодный, не понравилось", *e.now),
		text("300", "3", "всё отлично 👍", *e.now),
	} {
		if err := e.router.Reply(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	for run, want := range map[int64]string{run1: "menu", run2: "care", run3: "menu"} {
		var step, state string
		e.db.QueryRow(`SELECT step_id, state FROM flow_runs WHERE id = $1`, run).Scan(&step, &state)
		if step != want || state != "active" {
			t.Errorf("run %d: %s/%s, want %s/active", run, step, state, want)
		}
	}
	var rows []struct {
		Rule      string `db:"rule"`
		Sentiment string `db:"sentiment"`
		Outcome   string `db:"outcome"`
		Reaction  int64  `db:"reaction_ms"`
	}
	if err := e.db.Select(&rows, `SELECT rule, sentiment, outcome, reaction_ms FROM replies ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Rule != "button" || rows[1].Rule != "sentiment" || rows[1].Sentiment != "negative" ||
		rows[2].Sentiment != "positive" || rows[0].Outcome != "branch" || rows[0].Reaction != 30*60*1000 {
		t.Fatalf("replies: %+v", rows)
	}
	// The reply opened the 24h window of the channel.
	var last time.Time
	e.db.QueryRow(`SELECT last_inbound_at FROM channel_identities WHERE address = '100'`).Scan(&last)
	if !last.Equal(*e.now) {
		t.Fatalf("last_inbound_at %v", last)
	}
}

func TestReplyRacingItsTimeoutTakesOneBranch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		chat := "r" + string(rune('a'+i))
		_, run := e.waitingSubscriber(t, chat, e.now.Add(-47*time.Hour))
		var wg sync.WaitGroup
		var timedOut bool
		wg.Add(2)
		go func() { defer wg.Done(); timedOut = timeout(t, e.db, run, 3) }()
		go func() {
			defer wg.Done()
			if err := e.router.Reply(ctx, text(chat, "ev-"+chat, "вкусно", *e.now)); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		var step string
		var seq int
		e.db.QueryRow(`SELECT step_id, step_seq FROM flow_runs WHERE id = $1`, run).Scan(&step, &seq)
		var outcome string
		e.db.QueryRow(`SELECT outcome FROM replies WHERE provider_event_id = $1`, "ev-"+chat).Scan(&outcome)
		switch {
		case timedOut && step == "reminder" && (outcome == "late" || outcome == "inbox"):
		case !timedOut && step == "menu" && outcome == "branch":
		default:
			t.Fatalf("run %d: timedOut=%v step=%s outcome=%s", run, timedOut, step, outcome)
		}
		if seq != 4 {
			t.Fatalf("run moved %d times", seq-3)
		}
	}
}

func TestUnmatchedRepliesGoToTheInbox(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	// No run waits: a complaint opens a conversation, follow-ups join it.
	e.db.MustExec(`INSERT INTO subscribers (external_id, name) VALUES ('x', 'Олег')`)
	e.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) SELECT id, 'viber', 'V1' FROM subscribers WHERE external_id = 'x'`)
	ev := text("V1", "a", "Курьер опоздал, всё остыло", *e.now)
	ev.Channel = channels.Viber
	if err := e.router.Reply(ctx, ev); err != nil {
		t.Fatal(err)
	}
	ev2 := text("V1", "b", "Ответьте, пожалуйста", e.now.Add(time.Minute))
	ev2.Channel = channels.Viber
	if err := e.router.Reply(ctx, ev2); err != nil {
		t.Fatal(err)
	}
	// A stranger who never opted in still reaches a person.
	if err := e.router.Reply(ctx, text("999", "c", "Здравствуйте, когда доставка?", *e.now)); err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.List(ctx, ViewAll, 0, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d conversations, want 2: %+v", len(list), list)
	}
	var oleg Summary
	for _, c := range list {
		if c.Name == "Олег" {
			oleg = c
		}
	}
	if oleg.Reason != "negative_reply" || oleg.LastText != "Ответьте, пожалуйста" {
		t.Fatalf("conversation: %+v", oleg)
	}
}

func TestManagerWorkflow(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	var mgr int64
	e.db.QueryRow(`INSERT INTO users (email, role, password_hash) VALUES ('m@x.example', 'manager', 'x') RETURNING id`).Scan(&mgr)
	subID, run := e.waitingSubscriber(t, "100", e.now.Add(-time.Hour))
	// The run reached its hand-off step "care" at seq 3: the worker pauses it
	// and records the hand-off, whose trigger opens the conversation.
	e.db.MustExec(`UPDATE flow_runs SET state = 'active', step_id = 'care' WHERE id = $1`, run)
	if err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		if ok, err := e.runs.PauseRun(ctx, tx, run, 3); err != nil || !ok {
			return fmt.Errorf("pause: %v %w", ok, err)
		}
		return Handoffs{}.HandOff(ctx, tx, run, "care", 3, "care", "Негативный отзыв", *e.now)
	}); err != nil {
		t.Fatal(err)
	}
	var conv int64
	e.db.QueryRow(`SELECT id FROM conversations WHERE subscriber_id = $1 AND state = 'open' AND queue = 'care'`, subID).Scan(&conv)
	if err := e.svc.Claim(ctx, conv, mgr); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Claim(ctx, conv, mgr+1000); !errors.Is(err, ErrTaken) {
		t.Fatalf("second claim: %v", err)
	}
	if err := e.svc.Note(ctx, conv, mgr, "Позвонить завтра"); err != nil {
		t.Fatal(err)
	}
	*e.now = e.now.Add(5 * time.Minute)
	req := ReplyRequest{Text: "Извините! Вернём деньги за суп.", RequestID: "form-1"}
	if err := e.svc.Reply(ctx, conv, mgr, req); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Reply(ctx, conv, mgr, req); err != nil { // a double submit
		t.Fatal(err)
	}
	if len(*e.sent) != 1 || (*e.sent)[0].To != "100" {
		t.Fatalf("sent: %+v", *e.sent)
	}
	d, err := e.svc.Get(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	kinds := ""
	for _, h := range d.History {
		kinds += h.Kind + " "
	}
	if kinds != "bot system note manager " || d.FirstResponseAt == nil || d.Assignee != "m@x.example" {
		t.Fatalf("history %q, detail %+v", kinds, d.Summary)
	}
	if err := e.svc.Resolve(ctx, conv, mgr, false); err != nil {
		t.Fatal(err)
	}
	// The run continues after its hand-off step, "care": "reminder".
	if want := fmt.Sprintf("%d>reminder", run); len(e.runs.moves) != 1 || e.runs.moves[0] != want || e.runs.woken != 1 {
		t.Fatalf("moves %v (woken %d), want [%s]", e.runs.moves, e.runs.woken, want)
	}
	var resolved time.Time
	e.db.QueryRow(`SELECT resolved_at FROM handoffs WHERE run_id = $1`, run).Scan(&resolved)
	if !resolved.Equal(*e.now) {
		t.Fatalf("hand-off resolved at %v, want %v", resolved, *e.now)
	}
	if err := e.svc.Resolve(ctx, conv, mgr, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("second resolve: %v", err)
	}
	f, err := e.svc.Stats(ctx, e.now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if f.Conversations != 1 || f.FirstResponseP50s == nil || *f.FirstResponseP50s != 300 {
		t.Fatalf("figures %+v", f)
	}
}

func TestChannelRulesForManagerReplies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	mk := func(ch channels.Kind, addr string, lastInbound time.Duration) int64 {
		var sub int64
		e.db.QueryRow(`INSERT INTO subscribers (name) VALUES ('c') RETURNING id`).Scan(&sub)
		e.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at) VALUES ($1, $2, $3, $4)`,
			sub, ch, addr, e.now.Add(-lastInbound))
		id, err := Open(ctx, e.db, Handoff{SubscriberID: sub, Channel: ch, Reason: "unmatched", At: *e.now})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var mgr int64
	e.db.QueryRow(`INSERT INTO users (email, role, password_hash) VALUES ('m@x.example', 'manager', 'x') RETURNING id`).Scan(&mgr)
	wa := mk(channels.WhatsApp, "79990000001", 30*time.Hour)
	var we *WindowError
	if err := e.svc.Reply(ctx, wa, mgr, ReplyRequest{Text: "Здравствуйте"}); !errors.As(err, &we) || we.Allowed != "template:manager_followup" {
		t.Fatalf("WhatsApp outside 24h: %v", err)
	}
	if err := e.svc.Reply(ctx, wa, mgr, ReplyRequest{Text: "Здравствуйте", UseTemplate: true}); err != nil {
		t.Fatalf("template reply: %v", err)
	}
	fb := mk(channels.Messenger, "PSID1", 3*24*time.Hour)
	if err := e.svc.Reply(ctx, fb, mgr, ReplyRequest{Text: "Hello"}); err != nil {
		t.Fatal(err)
	}
	old := mk(channels.Messenger, "PSID2", 8*24*time.Hour)
	if err := e.svc.Reply(ctx, old, mgr, ReplyRequest{Text: "Hello"}); !errors.As(err, &we) {
		t.Fatalf("Messenger after 7 days: %v", err)
	}
	sent := *e.sent
	if len(sent) != 2 || sent[0].Template == nil || sent[0].Template.Params[0] != "Здравствуйте" || sent[1].Tag != "HUMAN_AGENT" {
		t.Fatalf("sent %+v", sent)
	}
}

func TestSLAFlagsOverdue(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	sub, _ := e.waitingSubscriber(t, "1", *e.now)
	conv, _ := Open(ctx, e.db, Handoff{SubscriberID: sub, Channel: channels.Telegram, Reason: "handoff", At: *e.now})
	if ids, _ := e.svc.FlagOverdue(ctx); len(ids) != 0 {
		t.Fatalf("flagged too early: %v", ids)
	}
	*e.now = e.now.Add(16 * time.Minute)
	ids, err := e.svc.FlagOverdue(ctx)
	if err != nil || len(ids) != 1 || ids[0] != conv {
		t.Fatalf("flagged %v %v", ids, err)
	}
	if ids, _ := e.svc.FlagOverdue(ctx); len(ids) != 0 {
		t.Fatalf("flagged twice: %v", ids)
	}
	over, _ := e.svc.List(ctx, ViewOverdue, 0, "", 10)
	if len(over) != 1 || !over[0].Overdue {
		t.Fatalf("overdue view %+v", over)
	}
}
