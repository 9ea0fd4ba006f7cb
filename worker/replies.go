package worker

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// Reply is an inbound answer from a subscriber, already classified.
type Reply struct {
	Button    string // pressed button id (payload)
	Text      string
	Sentiment string // positive | negative | neutral (from the classifier), "" = unknown
}

// ReplyResult says what a reply did.
type ReplyResult struct {
	Matched    bool   // a run waiting for a reply took it
	RunID      int64  //
	Goto       string // the step the run went to ("" with HandedOff)
	HandedOff  bool   // no branch matched and the step has no on_other: a hand-off was opened
	HandoffID  int64
	CampaignID string
}

// Replies resumes runs waiting in wait_reply steps.
type Replies struct{ e *Engine }

// Handle gives reply to the subscriber's newest run waiting for a reply. The
// run moves by compare-and-set on its step_seq, so a reply racing the step's
// timeout takes exactly one branch: whichever commits first wins, the other
// finds the seq moved and does nothing.
func (r *Replies) Handle(ctx context.Context, subscriberID int64, rep Reply) (ReplyResult, error) {
	e := r.e
	now := e.clock.Now()
	var out ReplyResult
	err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		var runs []struct {
			ID       int64  `db:"id"`
			Campaign string `db:"campaign_id"`
			Version  string `db:"campaign_version"`
			Step     string `db:"step_id"`
			Seq      int    `db:"step_seq"`
		}
		if err := tx.SelectContext(ctx, &runs, qWaitingRuns, subscriberID); err != nil {
			return fmt.Errorf("waiting runs: %w", err)
		}
		for _, run := range runs {
			def, err := e.definition(ctx, run.Campaign, run.Version)
			if err != nil {
				return err
			}
			idx := stepIndex(def, run.Step)
			if idx < 0 || def.Steps[idx].WaitReply == nil {
				continue
			}
			wr := def.Steps[idx].WaitReply
			target, ok := MatchReply(wr.Branches, rep)
			if !ok {
				target = wr.OnOther
			}
			replyCtx := map[string]any{"reply": map[string]any{"step": run.Step, "button": rep.Button,
				"sentiment": rep.Sentiment, "matched": ok, "at": now}}
			out = ReplyResult{Matched: true, RunID: run.ID, Goto: target, CampaignID: run.Campaign}
			if target == "" {
				// Unmatched without on_other: hand the dialogue to a manager; the
				// run resumes after this step when the hand-off is resolved.
				var id int64
				if err := tx.GetContext(ctx, &id, qHandoffUnmatched,
					run.ID, subscriberID, run.Campaign, run.Step, run.Seq, now); err != nil {
					return fmt.Errorf("hand-off unmatched reply: %w", err)
				}
				res, err := tx.ExecContext(ctx, qPauseRun, run.ID, run.Seq)
				if err != nil {
					return fmt.Errorf("pause run: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 0 {
					out = ReplyResult{}
					return nil
				}
				out.HandedOff, out.HandoffID = true, id
				return nil
			}
			subs, err := loadSubscribers(ctx, tx, []int64{subscriberID})
			if err != nil {
				return err
			}
			tr := settle(def, run.ID, run.Seq, target, now, subs[subscriberID].Location())
			tr.Ctx = mergeCtx(tr.Ctx, replyCtx)
			moved, err := e.applyTransitions(ctx, tx, []transition{tr})
			if err != nil {
				return err
			}
			if len(moved) == 0 {
				out = ReplyResult{} // the timeout won
			}
			return nil
		}
		return nil
	})
	return out, err
}

// MatchReply picks the branch for a reply: a button press decides before
// text; then keywords (whole words, case-insensitive); then sentiment.
func MatchReply(branches []campaigns.ReplyBranch, rep Reply) (string, bool) {
	if rep.Button != "" {
		for _, b := range branches {
			if b.Button != "" && b.Button == rep.Button {
				return b.Goto, true
			}
		}
	}
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(rep.Text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		words[w] = true
	}
	text := " " + strings.Join(strings.FieldsFunc(strings.ToLower(rep.Text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ") + " "
	for _, b := range branches {
		for _, k := range b.Keywords {
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "" {
				continue
			}
			if words[k] || (strings.ContainsRune(k, ' ') && strings.Contains(text, " "+spaces.ReplaceAllString(k, " ")+" ")) {
				return b.Goto, true
			}
		}
	}
	if rep.Sentiment != "" {
		for _, b := range branches {
			if b.Sentiment != "" && b.Sentiment == rep.Sentiment {
				return b.Goto, true
			}
		}
	}
	return "", false
}

var spaces = regexp.MustCompile(`\s+`)

// HandleEvent resumes a run from an inbound text or button event: the
// subscriber is found by the event's channel identity. Events of other types,
// or from unknown addresses, are ignored.
func (r *Replies) HandleEvent(ctx context.Context, ev channels.Event) (ReplyResult, error) {
	if ev.Type != channels.EventText && ev.Type != channels.EventButton {
		return ReplyResult{}, nil
	}
	var sub int64
	if err := r.e.db.GetContext(ctx, &sub, qSubscriberByIdentity, string(ev.Channel), ev.From); err != nil {
		if db.IsNoRows(err) {
			return ReplyResult{}, nil
		}
		return ReplyResult{}, fmt.Errorf("find subscriber: %w", err)
	}
	return r.Handle(ctx, sub, Reply{Button: ev.Payload, Text: ev.Text})
}
