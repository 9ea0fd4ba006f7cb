package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/templates"
)

type fallbackPayload struct {
	IDs []int64 `json:"ids"`
}

// reached reports whether a message satisfied its rung (if_not: delivered | read).
// Telegram, VK and Instagram report no delivery at all: for them the provider accepting
// the message for a reachable chat is the delivery signal (a blocked or
// unknown chat fails the send at once and falls back as a failure).
func reached(status string, ch channels.Kind, rung campaigns.FallbackRung) bool {
	switch status {
	case "read":
		return true
	case "delivered":
		return rung.IfNot != "read"
	case "sent":
		return rung.IfNot != "read" && !channels.HasDeliveryReceipts(ch)
	}
	return false
}

// handleFallback checks messages whose fallback time came: a message that
// did not reach its rung's status (or failed for good) is sent again on the
// rung's channel as attempt n+1 — once, by its deterministic key.
func (e *Engine) handleFallback(ctx context.Context, t *asynq.Task) error {
	var p fallbackPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode %s payload: %v: %w", TypeFallback, err, asynq.SkipRetry)
	}
	now := e.clock.Now()
	var childKeys []string
	parentOf := map[string]int64{}
	// Phase 1: decide and record the next rung's intents.
	err := db.WithTx(ctx, e.db, func(tx *sqlx.Tx) error {
		var parents []msgRow
		if err := tx.SelectContext(ctx, &parents, qLockFallbacks, pq.Array(p.IDs), now); err != nil {
			return fmt.Errorf("lock fallbacks: %w", err)
		}
		var clear []int64
		var moveIDs []int64
		var moveAts []*time.Time
		for _, m := range parents {
			def, err := e.definition(ctx, m.CampaignID, m.CampaignVersion)
			if err != nil {
				return err
			}
			if in, ok := templateRetry(m); ok {
				if err := insertIntents(ctx, tx, def, m.CampaignVersion, m.StepID, []intent{in}, now, true); err != nil {
					return err
				}
				childKeys = append(childKeys, in.Key)
				parentOf[in.Key] = m.ID
				continue
			}
			if m.Attempt >= len(def.Settings.Fallback) || m.Status == "skipped" || m.Status == "pending" {
				clear = append(clear, m.ID)
				continue
			}
			rung := def.Settings.Fallback[m.Attempt]
			if m.Status != "failed" && reached(m.Status, channels.Kind(m.Channel), rung) {
				clear = append(clear, m.ID)
				continue
			}
			idx := stepIndex(def, m.StepID)
			if idx < 0 || def.Steps[idx].Send == nil {
				clear = append(clear, m.ID)
				continue
			}
			ch := channels.Kind(rung.Channel)
			decs, err := e.cfg.Gate.Decide(ctx, tx, []int64{m.Sub}, def, def.Steps[idx].Send.Template, []channels.Kind{ch}, now)
			if err != nil {
				return err
			}
			d := decs[m.Sub]
			key := rungKey(m.Key, m.Attempt+1)
			in := intent{Key: key, Sub: m.Sub, Run: m.RunID, Channel: rung.Channel, Account: d.Account, Address: d.Address, Attempt: m.Attempt + 1}
			switch {
			case d.Send:
				subs, err := loadSubscribers(ctx, tx, []int64{m.Sub})
				if err != nil {
					return err
				}
				c, err := e.compose(ctx, draft{def: def, version: m.CampaignVersion, template: def.Steps[idx].Send.Template,
					sub: subs[m.Sub], runCtx: m.RunContext, key: key, step: m.StepID}, ch, now)
				if err != nil {
					in.Status, in.ErrKind, in.ErrMsg = "failed", string(channels.Invalid), err.Error()
					clear = append(clear, m.ID)
				} else {
					in.Status, in.Content = "pending", windowed(c, d)
					childKeys = append(childKeys, key)
					parentOf[key] = m.ID
				}
			case !d.DeferUntil.IsZero():
				t := d.DeferUntil
				moveIDs, moveAts = append(moveIDs, m.ID), append(moveAts, &t)
				continue
			default:
				in.Status, in.Reason = "skipped", d.Reason
				clear = append(clear, m.ID)
			}
			if err := insertIntents(ctx, tx, def, m.CampaignVersion, m.StepID, []intent{in}, now, true); err != nil {
				return err
			}
		}
		return settleFallbacks(ctx, tx, moveIDs, moveAts, clear)
	})
	if err != nil || len(childKeys) == 0 {
		return err
	}
	// Phase 2: send the next rung and settle the parents in the same commit.
	retry := false
	err = e.withLeasedTx(ctx, func(ctx context.Context, tx *sqlx.Tx) error {
		ids := make([]int64, 0, len(childKeys))
		for _, k := range childKeys {
			ids = append(ids, parentOf[k])
		}
		var parents []msgRow
		if err := tx.SelectContext(ctx, &parents, qLockFallbacks, pq.Array(ids), now); err != nil {
			return fmt.Errorf("lock fallbacks: %w", err)
		}
		locked := map[int64]bool{}
		for _, m := range parents {
			locked[m.ID] = true
		}
		var keys []string
		for _, k := range childKeys {
			if locked[parentOf[k]] {
				keys = append(keys, k)
			}
		}
		res, err := e.deliver(ctx, tx, keys)
		if err != nil {
			return err
		}
		var clear, moveIDs []int64
		var moveAts []*time.Time
		for _, k := range keys {
			r, ok := res[k]
			switch {
			case !ok:
			case r.kind == resultDone:
				clear = append(clear, parentOf[k])
			case r.kind == resultLater:
				t := now.Add(r.after)
				moveIDs, moveAts = append(moveIDs, parentOf[k]), append(moveAts, &t)
			case r.kind == resultRetry:
				retry = true
			}
		}
		return settleFallbacks(ctx, tx, moveIDs, moveAts, clear)
	})
	if err == nil && retry {
		return errRetry
	}
	return err
}

// settleFallbacks ends a phase of handleFallback: the parents in moveIDs
// get their fallback time moved to moveAts (deferred by policy or by the
// provider), those in clear have theirs cleared (their rung is done).
func settleFallbacks(ctx context.Context, tx *sqlx.Tx, moveIDs []int64, moveAts []*time.Time, clear []int64) error {
	if len(moveIDs) > 0 {
		if _, err := tx.ExecContext(ctx, qMoveFallback, pq.Array(moveIDs), pq.Array(timeArray(moveAts))); err != nil {
			return fmt.Errorf("move fallback: %w", err)
		}
	}
	if len(clear) > 0 {
		if _, err := tx.ExecContext(ctx, qClearFallback, pq.Array(clear)); err != nil {
			return fmt.Errorf("clear fallback: %w", err)
		}
	}
	return nil
}

// templateRetry is the message sent again when the provider reported later
// (a failed status, as WhatsApp's 131047 comes) that m, sent free-form in a
// window Nudge believed open, was outside it: the same channel, account and
// address with the variant's template or tag, on the same rung of the
// ladder (its key is m's with "t" appended, so its own next rung has the
// key m's would have had). It is the asynchronous twin of sendJobs' retry of
// a refusal; false when m has no template or tag, or was not free-form.
func templateRetry(m msgRow) (intent, bool) {
	if m.Status != "failed" || m.ErrKind != string(channels.WindowClosed) {
		return intent{}, false
	}
	var c templates.Rendered
	if json.Unmarshal(m.Content, &c) != nil || !c.FreeForm || (c.Template == nil && c.Tag == "") {
		return intent{}, false
	}
	c.FreeForm = false
	return intent{Key: m.Key + "t", Sub: m.Sub, Run: m.RunID, Channel: m.Channel, Account: m.Account, Address: m.Address,
		Attempt: m.Attempt, Status: "pending", Reason: ReasonWindowClosedRetried, Content: c}, true
}
