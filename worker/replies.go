package worker

import (
	"context"
	"fmt"

	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/inbox"
)

// Reply is an inbound answer from a subscriber.
type Reply struct {
	Button string // pressed button id (payload)
	Text   string
}

// ReplyResult says what a reply did.
type ReplyResult struct {
	Matched    bool   // a run waiting for a reply took it
	RunID      int64  //
	Goto       string // the step the run went to ("" with HandedOff)
	HandedOff  bool   // no branch matched and the step has no on_other: the run waits for a manager
	CampaignID string
}

// Replies gives a reply to the subscriber's run waiting for one, classified
// and resumed exactly as replies from webhooks are (classify, then
// Engine.ResumeReply); webhooks reach it through inbox.Router, which also
// records the reply and opens conversations. This entry point is for callers
// that hold a subscriber id (tests, tools).
type Replies struct {
	e *Engine
	c *classify.Classifier
}

// Handle resumes the subscriber's newest run waiting for a reply. A reply
// racing the step's timeout takes exactly one branch: the run moves by
// compare-and-set on its step_seq, and the loser finds it moved.
func (r *Replies) Handle(ctx context.Context, subscriberID int64, rep Reply) (ReplyResult, error) {
	e := r.e
	var runs []struct {
		ID       int64  `db:"id"`
		Campaign string `db:"campaign_id"`
		Version  string `db:"campaign_version"`
		Step     string `db:"step_id"`
		Seq      int    `db:"step_seq"`
	}
	if err := e.db.SelectContext(ctx, &runs, qWaitingRuns, subscriberID); err != nil {
		return ReplyResult{}, fmt.Errorf("waiting runs: %w", err)
	}
	for _, run := range runs {
		def, err := e.definition(ctx, run.Campaign, run.Version)
		if err != nil {
			return ReplyResult{}, err
		}
		idx := stepIndex(def, run.Step)
		if idx < 0 || def.Steps[idx].WaitReply == nil {
			continue
		}
		wr := def.Steps[idx].WaitReply
		res := r.c.Route(wr, rep.Button, rep.Text)
		target := res.Goto
		moved, err := e.ResumeReply(ctx, run.ID, run.Seq, target, inbox.Reply{Text: rep.Text, Payload: rep.Button,
			Sentiment: res.Sentiment, Rule: res.Rule, At: e.clock.Now()})
		if err != nil || !moved {
			return ReplyResult{}, err // !moved: the timeout won
		}
		return ReplyResult{Matched: true, RunID: run.ID, Goto: target, HandedOff: target == "", CampaignID: run.Campaign}, nil
	}
	return ReplyResult{}, nil
}
