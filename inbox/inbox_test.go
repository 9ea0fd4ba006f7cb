package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/worker"
)

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
	// runs is the engine production gives the inbox (internal/cli
	// stack.go): it moves runs and is the outbox.
	runs  *worker.Engine
	redis string // the engine's Redis: Wake puts a claim task on its queue
	sent  *[]channels.Message
	now   *time.Time
}

// recordingSender is a provider that keeps what it is handed, behind the
// production outbox (engineOn).
type recordingSender struct {
	kind channels.Kind
	mu   *sync.Mutex
	sent *[]channels.Message
}

func (s recordingSender) Kind() channels.Kind { return s.kind }

func (s recordingSender) Send(_ context.Context, m channels.Message) (channels.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.sent = append(*s.sent, m)
	return channels.Result{ProviderID: "rec-" + m.IdempotencyKey}, nil
}

// engineOn is what production gives the inbox as its runs and its outbox
// (internal/cli stack.go): a worker.Engine, whose SendText records a
// message once per key and sends it through ss, on the test's clock. It
// also returns the URL of the engine's Redis database.
func engineOn(t *testing.T, d *sqlx.DB, now *time.Time, ss ...channels.Sender) (*worker.Engine, string) {
	t.Helper()
	url := testenv.Redis(t)
	ropt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := worker.New(worker.Config{DB: d, Redis: ropt, Clock: clock.Func(func() time.Time { return *now }),
		Handoffs: Handoffs{}, Senders: ss})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	return eng, url
}

func setup(t *testing.T) env {
	t.Helper()
	d := testenv.DB(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sent := &[]channels.Message{}
	var mu sync.Mutex
	var senders []channels.Sender
	for _, k := range channels.Kinds {
		senders = append(senders, recordingSender{kind: k, mu: &mu, sent: sent})
	}
	eng, url := engineOn(t, d, &now, senders...)
	def, _ := json.Marshal(feedback)
	d.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('weekly-feedback', 'v1')`)
	d.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('weekly-feedback', 'v1', 1, $1, '')`, def)
	return env{db: d, router: NewRouter(d, classify.New(nil), eng, log, func() time.Time { return now }),
		svc: NewService(d, eng, eng, log, func() time.Time { return now }), runs: eng, redis: url, sent: sent, now: &now}
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
	var step, state string
	e.db.QueryRow(`SELECT step_id, state FROM flow_runs WHERE id = $1`, run).Scan(&step, &state)
	if step != "reminder" || state != "active" {
		t.Fatalf("run at %q (%s), want reminder (active)", step, state)
	}
	// ... and the engine was woken to work it: a claim task is queued.
	ropt, _ := asynq.ParseRedisURI(e.redis)
	insp := asynq.NewInspector(ropt)
	defer insp.Close()
	if q, err := insp.GetQueueInfo(worker.Queue); err != nil || q.Size == 0 {
		t.Fatalf("no claim task queued after the resolve: %+v %v", q, err)
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
