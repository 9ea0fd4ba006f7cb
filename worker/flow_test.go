package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/inbox"
)

func feedbackDef() campaigns.Definition {
	return sendDef("feedback",
		campaigns.Step{ID: "ask", Send: &campaigns.SendStep{Template: "ask"}},
		campaigns.Step{ID: "answer", WaitReply: &campaigns.WaitReplyStep{Timeout: dur("48h"), OnTimeout: "remind",
			Branches: []campaigns.ReplyBranch{
				{Button: "yes", Goto: "liked"},
				{Button: "no", Goto: "care"},
				{Keywords: []string{"вкусно", "очень понравилось"}, Goto: "liked"},
				{Sentiment: "negative", Goto: "care"},
			}}},
		campaigns.Step{ID: "liked", Set: &campaigns.SetStep{Attributes: map[string]any{"liked": true}}},
		campaigns.Step{ID: "check", Branch: &campaigns.BranchStep{Cases: []campaigns.BranchCase{
			{Where: []campaigns.Condition{{Attr: "liked", Op: "eq", Value: true}}, Goto: "thanks"},
		}, Else: "done"}},
		campaigns.Step{ID: "thanks", Send: &campaigns.SendStep{Template: "thanks"}, Next: "done"},
		campaigns.Step{ID: "remind", Send: &campaigns.SendStep{Template: "remind"}, Next: "done"},
		campaigns.Step{ID: "care", Handoff: &campaigns.HandoffStep{Queue: "care", Note: "negative feedback"}},
		campaigns.Step{ID: "sorry", Send: &campaigns.SendStep{Template: "sorry"}},
		campaigns.Step{ID: "done", End: &campaigns.EndStep{}},
	)
}

// replies is the inbox wired to the engine as internal/cli/stack.go wires
// it: the router classifies a reply and moves the run through the engine,
// the service resolves hand-offs.
type replies struct {
	h      *harness
	router *inbox.Router
	svc    *inbox.Service
	events atomic.Int64
}

func (h *harness) inbox() *replies {
	log := slog.New(slog.DiscardHandler)
	return &replies{h: h, router: inbox.NewRouter(h.db, classify.New(nil), h.engine, log, h.clock.Now),
		svc: inbox.NewService(h.db, h.engine, h.engine, log, h.clock.Now)}
}

// reply hands the router a subscriber's answer on their sandbox identity, as
// the inbound sink does, and returns what the reply did (replies.outcome:
// branch, late, on_other, inbox) and the step its run went to.
func (r *replies) reply(sub int64, button, text string) (outcome, gotoStep string) {
	r.h.t.Helper()
	id := fmt.Sprint(r.events.Add(1))
	ev := channels.Event{Type: channels.EventText, Channel: channels.Sandbox, From: fmt.Sprintf("sb%d", sub),
		ProviderEventID: id, Payload: button, Text: text, At: r.h.clock.Now()}
	if button != "" {
		ev.Type = channels.EventButton
	}
	if err := r.router.Reply(context.Background(), ev); err != nil {
		r.h.t.Error(err)
		return "", ""
	}
	if err := r.h.db.QueryRow(`SELECT outcome, goto_step FROM replies WHERE channel = 'sandbox' AND provider_event_id = $1`, id).
		Scan(&outcome, &gotoStep); err != nil {
		r.h.t.Error(err)
	}
	return outcome, gotoStep
}

// resolve resolves the subscriber's open conversation as a manager does.
func (r *replies) resolve(sub int64, end bool) error {
	r.h.t.Helper()
	var conv, mgr int64
	if err := r.h.db.Get(&conv, `SELECT id FROM conversations WHERE subscriber_id = $1 AND state = 'open'`, sub); err != nil {
		r.h.t.Fatalf("open conversation of %d: %v", sub, err)
	}
	if err := r.h.db.Get(&mgr, `INSERT INTO users (email, role, password_hash) VALUES ($1, 'manager', 'x')
		ON CONFLICT (email) DO UPDATE SET role = 'manager' RETURNING id`, "m@example.com"); err != nil {
		r.h.t.Fatal(err)
	}
	return r.svc.Resolve(context.Background(), conv, mgr, end)
}

func TestFeedbackFlowRepliesHandoffAndTimeout(t *testing.T) {
	h := setup(t)
	in := h.inbox()
	v := h.campaign(feedbackDef())
	subs := h.subscribers(4, "Europe/Moscow")
	yes, no, words, silent := subs[0], subs[1], subs[2], subs[3]
	h.start("feedback", v, subs, t0)
	h.settle()
	h.wantCount("runs waiting for a reply", 4, `SELECT count(*) FROM flow_runs WHERE state = 'waiting' AND step_id = 'answer'`)
	for _, c := range []struct {
		sub          int64
		button, text string
		want         string
	}{
		{yes, "yes", "", "liked"},
		{no, "no", "вкусно", "care"}, // the button decides before text
		{words, "", "Очень   понравилось, спасибо", "liked"},
	} {
		if outcome, to := in.reply(c.sub, c.button, c.text); outcome != "branch" || to != c.want {
			t.Fatalf("reply %q/%q: %s to %q, want branch to %s", c.button, c.text, outcome, to, c.want)
		}
	}
	h.settle()
	h.wantCount("thanks sent", 2, `SELECT count(*) FROM messages WHERE step_id = 'thanks' AND status = 'sent'`)
	var liked bool
	if err := h.db.Get(&liked, `SELECT (attributes->>'liked')::bool FROM subscribers WHERE id = $1`, yes); err != nil || !liked {
		t.Fatalf("set step: liked = %v (%v)", liked, err)
	}
	// A reply with no waiting run resumes nothing: a person reads it.
	if outcome, _ := in.reply(yes, "yes", ""); outcome != "inbox" {
		t.Fatalf("second reply: %s, want inbox", outcome)
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE subscriber_id = $1 AND state = 'done'`, yes); n != 1 {
		t.Fatalf("second reply moved the finished run")
	}
	h.wantCount("open hand-offs for the negative answer", 1, `SELECT count(*) FROM handoffs WHERE subscriber_id = $1 AND queue = 'care' AND resolved_at IS NULL`, no)
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE subscriber_id = $1 AND state = 'paused'`, no); n != 1 {
		t.Fatalf("handed-off run not paused")
	}
	// The silent one times out after 48h and gets the reminder.
	h.clock.Advance(49 * time.Hour)
	h.settle()
	h.wantCount("reminders to the silent subscriber", 1, `SELECT count(*) FROM messages WHERE step_id = 'remind' AND subscriber_id = $1`, silent)
	// The hand-off opened an inbox conversation (trigger on handoffs), which
	// pauses marketing for the subscriber until a manager resolves it.
	h.wantCount("open conversations for the hand-off", 1, `SELECT count(*) FROM conversations WHERE subscriber_id = $1 AND state = 'open' AND queue = 'care'`, no)
	// The manager resolves: the conversation closes, the hand-off is
	// resolved and the run continues after the hand-off step.
	if err := in.resolve(no, false); err != nil {
		t.Fatal(err)
	}
	if n := h.count(`SELECT count(*) FROM handoffs WHERE subscriber_id = $1 AND resolved_at = $2`, no, h.clock.Now()); n != 1 {
		t.Fatalf("resolved hand-offs = %d, want 1 (on the engine's clock)", n)
	}
	var conv int64
	h.db.Get(&conv, `SELECT id FROM conversations WHERE subscriber_id = $1`, no)
	if err := in.svc.Resolve(context.Background(), conv, 0, false); !errors.Is(err, inbox.ErrClosed) {
		t.Fatalf("second resolve: %v, want inbox.ErrClosed", err)
	}
	h.settle()
	h.wantCount("message after resolve", 1, `SELECT count(*) FROM messages WHERE step_id = 'sorry' AND subscriber_id = $1 AND status = 'sent'`, no)
	h.wantCount("done runs", 4, `SELECT count(*) FROM flow_runs WHERE state = 'done'`)
}

// A reply no branch matches (and no on_other) hands the dialogue to a person:
// the run pauses until the conversation is resolved, then continues after the
// wait; a resolve with end finishes a handed-off run instead.
func TestUnmatchedReplyAndResolveWithEnd(t *testing.T) {
	h := setup(t)
	in := h.inbox()
	v := h.campaign(feedbackDef())
	subs := h.subscribers(2, "UTC")
	unmatched, ended := subs[0], subs[1]
	h.start("feedback", v, subs, t0)
	h.settle()
	if outcome, to := in.reply(unmatched, "", "а когда доставка?"); outcome != "on_other" || to != "" {
		t.Fatalf("unmatched reply: %s to %q, want on_other", outcome, to)
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE subscriber_id = $1 AND state = 'paused' AND step_id = 'answer'`, unmatched); n != 1 {
		t.Fatalf("run of the unmatched reply not paused at its wait")
	}
	if n := h.count(`SELECT count(*) FROM conversations c JOIN flow_runs f ON f.id = ANY(c.run_ids)
		WHERE c.subscriber_id = $1 AND c.state = 'open' AND c.reason = 'unmatched' AND c.queue = 'replies'`, unmatched); n != 1 {
		t.Fatalf("no open conversation holding the paused run")
	}
	if outcome, _ := in.reply(ended, "no", ""); outcome != "branch" {
		t.Fatalf("negative reply: %s", outcome)
	}
	h.settle()
	h.clock.Advance(time.Hour)
	if err := in.resolve(unmatched, false); err != nil {
		t.Fatal(err)
	}
	if err := in.resolve(ended, true); err != nil {
		t.Fatal(err)
	}
	h.settle()
	// Resumed after the wait_reply step: liked, then thanks.
	h.wantCount("resumed run: thanks", 1, `SELECT count(*) FROM messages WHERE subscriber_id = $1 AND step_id = 'thanks' AND status = 'sent'`, unmatched)
	if n := h.count(`SELECT count(*) FROM messages WHERE subscriber_id = $1 AND step_id = 'sorry'`, ended); n != 0 {
		t.Fatalf("ended run sent %d messages after the hand-off", n)
	}
	h.wantCount("done runs with their hand-off recorded", 2, `SELECT count(*) FROM flow_runs WHERE state = 'done' AND context ? 'handoff'`)
}

// A reply racing its own timeout takes exactly one branch.
func TestReplyRacingTimeoutTakesOneBranch(t *testing.T) {
	h := setup(t)
	in := h.inbox()
	def := feedbackDef()
	// A late reply opens a conversation, which holds marketing: as a service
	// flow the timeout's reminder still goes out, so each subscriber shows
	// exactly the branch that won.
	def.Topic = campaigns.TopicService
	_, subs := h.blastDef(def, 60, "UTC", t0)
	h.settle()
	h.clock.Advance(48*time.Hour + time.Second) // every wait is due to time out
	ctx := context.Background()
	var wg sync.WaitGroup
	wins := make([]bool, len(subs))
	if _, err := h.disp.Pass(ctx); err != nil { // the timeouts are on their way
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, s := range subs {
			// late: the timeout moved the run while the reply was on its way;
			// inbox: the timeout had moved it before the reply looked.
			outcome, _ := in.reply(s, "yes", "")
			if outcome != "branch" && outcome != "late" && outcome != "inbox" {
				t.Errorf("subscriber %d: reply %q, want branch, late or inbox", s, outcome)
			}
			wins[i] = outcome == "branch"
		}
	}()
	h.settle()
	wg.Wait()
	h.settle()
	replied := 0
	for i, s := range subs {
		thanks := h.count(`SELECT count(*) FROM messages WHERE subscriber_id = $1 AND step_id = 'thanks'`, s)
		remind := h.count(`SELECT count(*) FROM messages WHERE subscriber_id = $1 AND step_id = 'remind'`, s)
		if thanks+remind != 1 {
			t.Fatalf("subscriber %d: thanks %d + remind %d, want exactly one branch", s, thanks, remind)
		}
		if wins[i] != (thanks == 1) {
			t.Fatalf("subscriber %d: reply said matched=%v but thanks=%d", s, wins[i], thanks)
		}
		// A reply that lost is read by a person.
		convs := h.count(`SELECT count(*) FROM conversations WHERE subscriber_id = $1`, s)
		if convs != map[bool]int{true: 0, false: 1}[wins[i]] {
			t.Fatalf("subscriber %d: %d conversations, reply matched=%v", s, convs, wins[i])
		}
		if wins[i] {
			replied++
		}
	}
	t.Logf("reply won %d of %d races", replied, len(subs))
}

func TestWaitGoalAndBranchOnEvents(t *testing.T) {
	h := setup(t)
	def := sendDef("week",
		campaigns.Step{ID: "pause", Wait: &campaigns.WaitStep{Until: "fri 18:00"}},
		campaigns.Step{ID: "menu", Send: &campaigns.SendStep{Template: "hello"}},
		campaigns.Step{ID: "goal", Goal: &campaigns.GoalStep{Event: "order.created", Within: dur("2d")}},
		campaigns.Step{ID: "split", Branch: &campaigns.BranchStep{Cases: []campaigns.BranchCase{
			{HasEvent: []campaigns.EventFilter{{Name: "order.created", Within: dur("7d")}}, Goto: "thanks"},
		}}},
		campaigns.Step{ID: "remind", Send: &campaigns.SendStep{Template: "remind"}, Next: "end"},
		campaigns.Step{ID: "thanks", Send: &campaigns.SendStep{Template: "thanks"}},
		campaigns.Step{ID: "end", End: &campaigns.EndStep{}},
	)
	v := h.campaign(def)
	ny := h.subscribers(1, "America/New_York")
	berlin := h.subscribers(1, "Europe/Berlin")
	h.start("week", v, append(ny, berlin...), t0)
	h.settle()
	nyLoc, _ := time.LoadLocation("America/New_York")
	berlinLoc, _ := time.LoadLocation("Europe/Berlin")
	for _, c := range []struct {
		sub  int64
		want time.Time
	}{
		{ny[0], time.Date(2026, 3, 6, 18, 0, 0, 0, nyLoc)},
		{berlin[0], time.Date(2026, 3, 6, 18, 0, 0, 0, berlinLoc)},
	} {
		var next time.Time
		if err := h.db.Get(&next, `SELECT next_at FROM flow_runs WHERE subscriber_id = $1 AND step_id = 'menu'`, c.sub); err != nil {
			t.Fatal(err)
		}
		if !next.Equal(c.want) {
			t.Fatalf("wait until fri 18:00 for %d: %v, want %v", c.sub, next, c.want)
		}
	}
	h.clock.Set(time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)) // after both Fridays 18:00
	h.settle()
	h.wantCount("menus sent", 2, `SELECT count(*) FROM messages WHERE step_id = 'menu' AND status = 'sent'`)
	h.exec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at) VALUES ($1, 'order.created', $2)`, berlin[0], h.clock.Now().Add(time.Hour))
	h.clock.Advance(2*24*time.Hour + time.Minute)
	h.settle()
	var raw []byte
	if err := h.db.Get(&raw, `SELECT context FROM flow_runs WHERE subscriber_id = $1`, berlin[0]); err != nil {
		t.Fatal(err)
	}
	var rc struct {
		Goal struct {
			Converted bool `json:"converted"`
		} `json:"goal"`
	}
	_ = json.Unmarshal(raw, &rc)
	if !rc.Goal.Converted {
		t.Fatalf("goal not recorded as converted: %s", raw)
	}
	h.wantCount("converted subscriber thanks", 1, `SELECT count(*) FROM messages WHERE step_id = 'thanks' AND subscriber_id = $1`, berlin[0])
	h.wantCount("unconverted subscriber reminders", 1, `SELECT count(*) FROM messages WHERE step_id = 'remind' AND subscriber_id = $1`, ny[0])
}

func TestWaitTimeAcrossDST(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, c := range []struct {
		name  string
		until string
		now   time.Time
		loc   *time.Location
		want  time.Time
	}{
		// US DST starts 2026-03-08: Saturday 18:00 EST, then Sunday 18:00 EDT.
		{"ny before", "18:00", time.Date(2026, 3, 7, 12, 0, 0, 0, ny), ny, time.Date(2026, 3, 7, 18, 0, 0, 0, ny)},
		{"ny across", "18:00", time.Date(2026, 3, 7, 19, 0, 0, 0, ny), ny, time.Date(2026, 3, 8, 18, 0, 0, 0, ny)},
		// EU DST ends 2026-10-25.
		{"berlin fri", "fri 18:00", time.Date(2026, 10, 24, 9, 0, 0, 0, berlin), berlin, time.Date(2026, 10, 30, 18, 0, 0, 0, berlin)},
		{"berlin same day", "sat 18:00", time.Date(2026, 10, 24, 9, 0, 0, 0, berlin), berlin, time.Date(2026, 10, 24, 18, 0, 0, 0, berlin)},
	} {
		got, err := waitTime(&campaigns.WaitStep{Until: c.until}, c.now, c.loc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got.Equal(c.want) || got.In(c.loc).Hour() != 18 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := waitTime(&campaigns.WaitStep{Until: "someday 18:00"}, time.Now(), time.UTC); err == nil {
		t.Error("unknown weekday accepted")
	}
}

// A reply's branch is timed in the subscriber's zone: the router hands the
// engine the zone it read with the waiting runs (MoveRead), and a wait
// until 10:00 after the answer is 10:00 where each customer lives.
func TestReplyBranchWaitsInSubscribersZone(t *testing.T) {
	h := setup(t)
	in := h.inbox()
	v := h.campaign(sendDef("menuweek",
		campaigns.Step{ID: "ask", Send: &campaigns.SendStep{Template: "ask"}},
		campaigns.Step{ID: "answer", WaitReply: &campaigns.WaitReplyStep{Timeout: dur("48h"), OnTimeout: "done",
			Branches: []campaigns.ReplyBranch{{Button: "yes", Goto: "morning"}}}},
		campaigns.Step{ID: "morning", Wait: &campaigns.WaitStep{Until: "10:00"}},
		campaigns.Step{ID: "menu", Send: &campaigns.SendStep{Template: "hello"}},
		campaigns.Step{ID: "done", End: &campaigns.EndStep{}},
	))
	vvo := h.subscribers(1, "Asia/Vladivostok")
	ny := h.subscribers(1, "America/New_York")
	h.start("menuweek", v, append(vvo, ny...), t0)
	h.settle()
	h.wantCount("runs waiting for a reply", 2, `SELECT count(*) FROM flow_runs WHERE state = 'waiting' AND step_id = 'answer'`)
	vvoLoc, _ := time.LoadLocation("Asia/Vladivostok")
	nyLoc, _ := time.LoadLocation("America/New_York")
	for _, c := range []struct {
		sub  int64
		want time.Time
	}{
		{vvo[0], time.Date(2026, 3, 3, 10, 0, 0, 0, vvoLoc)}, // Monday 22:00 there at t0
		{ny[0], time.Date(2026, 3, 2, 10, 0, 0, 0, nyLoc)},   // Monday 07:00 there
	} {
		if outcome, to := in.reply(c.sub, "yes", ""); outcome != "branch" || to != "morning" {
			t.Fatalf("reply of %d: %s to %q, want branch to morning", c.sub, outcome, to)
		}
		var next time.Time
		if err := h.db.Get(&next, `SELECT next_at FROM flow_runs WHERE subscriber_id = $1 AND step_id = 'menu'`, c.sub); err != nil {
			t.Fatal(err)
		}
		if !next.Equal(c.want) {
			t.Fatalf("after the reply of %d the menu waits until %v, want %v", c.sub, next.UTC(), c.want.UTC())
		}
	}
}
