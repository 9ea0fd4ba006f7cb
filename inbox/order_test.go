package inbox

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/worker"
)

// eagerRuns is the flow runtime at its fastest: the moment a move is
// committed (visible outside the mover's executor) a worker runs the step it
// moved to, here the hand-off step "care", which opens a conversation. A
// move not yet visible is worked at Wake, which the router calls after its
// commit.
type eagerRuns struct {
	*worker.Engine
	e       env
	t       *testing.T
	pending []int64 // runs moved but not yet visible
}

func (r *eagerRuns) MoveRun(ctx context.Context, q db.Executor, runID int64, seq int, to string, note map[string]any) (bool, bool, error) {
	moved, due, err := r.Engine.MoveRun(ctx, q, runID, seq, to, note)
	return r.moved(ctx, runID, seq, moved, due, err)
}

func (r *eagerRuns) MoveRead(ctx context.Context, q db.Executor, runID int64, seq int, def *campaigns.Definition, timeZone, to string, note map[string]any) (bool, bool, error) {
	moved, due, err := r.Engine.MoveRead(ctx, q, runID, seq, def, timeZone, to, note)
	return r.moved(ctx, runID, seq, moved, due, err)
}

// moved works the step a committed move reached at once, or at Wake when
// the move is not visible yet.
func (r *eagerRuns) moved(ctx context.Context, runID int64, seq int, moved, due bool, err error) (bool, bool, error) {
	if err != nil || !moved {
		return moved, due, err
	}
	var visible bool
	if err := r.e.db.GetContext(ctx, &visible, `SELECT step_seq = $2 FROM flow_runs WHERE id = $1`, runID, seq+1); err != nil {
		return false, false, err
	}
	if visible {
		r.handOff(ctx, runID)
	} else {
		r.pending = append(r.pending, runID)
	}
	return moved, due, nil
}

func (r *eagerRuns) Wake(ctx context.Context) {
	for _, id := range r.pending {
		r.handOff(ctx, id)
	}
	r.pending = nil
}

func (r *eagerRuns) handOff(ctx context.Context, runID int64) {
	var sub int64
	if err := r.e.db.GetContext(ctx, &sub, `SELECT subscriber_id FROM flow_runs WHERE id = $1`, runID); err != nil {
		r.t.Fatal(err)
	}
	if _, err := Open(ctx, r.e.db, Handoff{SubscriberID: sub, Channel: channels.Telegram, Queue: "care", Reason: "handoff",
		RunIDs: []int64{runID}, At: *r.e.now}); err != nil {
		r.t.Fatal(err)
	}
}

// TestReplyEventPrecedesTheHandoffItCauses: a 👎 whose branch is a hand-off
// step reports the reply before the hand-off, however fast the runtime
// takes the moved run: the move and the reply commit together, so the
// hand-off (and its webhook event) can only follow.
func TestReplyEventPrecedesTheHandoffItCauses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	hookAll(t, e)
	runs := &eagerRuns{Engine: e.runs, e: e, t: t}
	router := NewRouter(e.db, e.router.classify, runs, e.router.log, e.router.now)
	sub, _ := e.waitingSubscriber(t, "100", e.now.Add(-time.Hour))
	if err := router.Reply(ctx, channels.Event{Type: channels.EventButton, Channel: channels.Telegram, From: "100",
		ProviderEventID: "1", Payload: "dislike", At: *e.now}); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, e, sub, hooks.Reply, hooks.HandoffOpened)
}

// hookAll adds an endpoint for every event type, so that changes emit them.
func hookAll(t *testing.T, e env) {
	t.Helper()
	if _, err := hooks.NewStore(e.db, func() time.Time { return *e.now }).Create(context.Background(),
		hooks.EndpointInput{URL: "https://crm.example/hooks", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
}

// wantEvents checks the subscriber's webhook events in id order, the order
// the shop receives them in.
func wantEvents(t *testing.T, e env, sub int64, want ...hooks.Type) {
	t.Helper()
	var got []hooks.Type
	if err := e.db.Select(&got, `SELECT type FROM webhook_events WHERE subscriber_id = $1 ORDER BY id`, sub); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events in id order: %v, want %v", got, want)
	}
}

// TestReplyEventPrecedesTheConversationItOpens: a reply no branch matches
// opens a conversation in its own transaction, and a reply nobody waits for
// does too; either way the shop hears the reply before the hand-off it
// caused.
func TestReplyEventPrecedesTheConversationItOpens(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	hookAll(t, e)
	unmatched, _ := e.waitingSubscriber(t, "100", e.now.Add(-time.Hour))
	if err := e.router.Reply(ctx, text("100", "1", "а когда доставка?", *e.now)); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, e, unmatched, hooks.Reply, hooks.HandoffOpened)
	nobody, _ := e.waitingSubscriber(t, "200", e.now.Add(-time.Hour))
	e.db.MustExec(`UPDATE flow_runs SET state = 'done' WHERE subscriber_id = $1`, nobody)
	if err := e.router.Reply(ctx, text("200", "2", "где мой заказ?", *e.now)); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, e, nobody, hooks.Reply, hooks.HandoffOpened)
}
