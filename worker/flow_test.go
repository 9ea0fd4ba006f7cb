package worker

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
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

func TestFeedbackFlowRepliesHandoffAndTimeout(t *testing.T) {
	h := setup(t)
	v := h.campaign(feedbackDef())
	subs := h.subscribers(4, "Europe/Moscow")
	yes, no, words, silent := subs[0], subs[1], subs[2], subs[3]
	h.start("feedback", v, subs, t0)
	h.settle()
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE state = 'waiting' AND step_id = 'answer'`); n != 4 {
		t.Fatalf("runs waiting for a reply = %d, want 4", n)
	}
	ctx := context.Background()
	for _, c := range []struct {
		sub  int64
		rep  Reply
		want string
	}{
		{yes, Reply{Button: "yes"}, "liked"},
		{no, Reply{Button: "no", Text: "вкусно"}, "care"}, // the button decides before text
		{words, Reply{Text: "Очень   понравилось, спасибо"}, "liked"},
	} {
		res, err := h.engine.Replies.Handle(ctx, c.sub, c.rep)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Matched || res.Goto != c.want {
			t.Fatalf("reply %+v: %+v, want goto %s", c.rep, res, c.want)
		}
	}
	// A reply with no waiting run does nothing.
	if res, err := h.engine.Replies.Handle(ctx, yes, Reply{Button: "yes"}); err != nil || res.Matched {
		t.Fatalf("second reply: %+v %v", res, err)
	}
	h.settle()
	if n := h.count(`SELECT count(*) FROM messages WHERE step_id = 'thanks' AND status = 'sent'`); n != 2 {
		t.Fatalf("thanks sent = %d, want 2", n)
	}
	var liked bool
	if err := h.db.Get(&liked, `SELECT (attributes->>'liked')::bool FROM subscribers WHERE id = $1`, yes); err != nil || !liked {
		t.Fatalf("set step: liked = %v (%v)", liked, err)
	}
	var hoID int64
	if err := h.db.Get(&hoID, `SELECT id FROM handoffs WHERE subscriber_id = $1 AND queue = 'care' AND resolved_at IS NULL`, no); err != nil {
		t.Fatalf("hand-off for the negative answer: %v", err)
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE subscriber_id = $1 AND state = 'paused'`, no); n != 1 {
		t.Fatalf("handed-off run not paused")
	}
	// The silent one times out after 48h and gets the reminder.
	h.clock.Advance(49 * time.Hour)
	h.settle()
	if n := h.count(`SELECT count(*) FROM messages WHERE step_id = 'remind' AND subscriber_id = $1`, silent); n != 1 {
		t.Fatalf("reminders to the silent subscriber = %d, want 1", n)
	}
	// The hand-off opened an inbox conversation (trigger on handoffs), which
	// pauses marketing for the subscriber until a manager resolves it.
	if n := h.count(`SELECT count(*) FROM conversations WHERE subscriber_id = $1 AND state = 'open' AND queue = 'care'`, no); n != 1 {
		t.Fatalf("open conversations for the hand-off = %d, want 1", n)
	}
	// The manager resolves (as inbox.Service.Resolve does: the conversation
	// closes, then the run continues after the hand-off step).
	if _, err := h.db.Exec(`UPDATE conversations SET state = 'resolved', resolved_at = now() WHERE subscriber_id = $1`, no); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.Handoffs.Resolve(ctx, hoID); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.Handoffs.Resolve(ctx, hoID); err != ErrHandoffNotOpen {
		t.Fatalf("second resolve: %v, want ErrHandoffNotOpen", err)
	}
	h.settle()
	if n := h.count(`SELECT count(*) FROM messages WHERE step_id = 'sorry' AND subscriber_id = $1 AND status = 'sent'`, no); n != 1 {
		t.Fatalf("message after resolve = %d, want 1", n)
	}
	if n := h.count(`SELECT count(*) FROM flow_runs WHERE state = 'done'`); n != 4 {
		t.Fatalf("done runs = %d, want 4", n)
	}
}

// A reply racing its own timeout takes exactly one branch.
func TestReplyRacingTimeoutTakesOneBranch(t *testing.T) {
	h := setup(t)
	v := h.campaign(feedbackDef())
	subs := h.subscribers(60, "UTC")
	h.start("feedback", v, subs, t0)
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
			res, err := h.engine.Replies.Handle(ctx, s, Reply{Button: "yes"})
			if err != nil {
				t.Error(err)
				return
			}
			wins[i] = res.Matched
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
	if n := h.count(`SELECT count(*) FROM messages WHERE step_id = 'menu' AND status = 'sent'`); n != 2 {
		t.Fatalf("menus sent = %d", n)
	}
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
	if n := h.count(`SELECT count(*) FROM messages WHERE step_id = 'thanks' AND subscriber_id = $1`, berlin[0]); n != 1 {
		t.Fatalf("converted subscriber thanks = %d", n)
	}
	if n := h.count(`SELECT count(*) FROM messages WHERE step_id = 'remind' AND subscriber_id = $1`, ny[0]); n != 1 {
		t.Fatalf("unconverted subscriber reminders = %d", n)
	}
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
