package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
)

const (
	// A subscriber's runs, all of them: flow_runs has no index on
	// subscriber_id alone (flow_runs_subscriber holds live runs only, and a
	// second full index would be one more entry per run a blast writes), so
	// the unique key (campaign_id, subscriber_id, trigger_key) is probed once
	// per campaign. Every run's campaign is in campaigns (foreign key through
	// campaign_versions). A seq scan of 1M runs took 384 ms; this, 1.9 ms.
	subscriberRuns = `campaign_id = ANY (ARRAY(SELECT id FROM campaigns)) AND subscriber_id = $1`

	// Runs not yet ended end now, without sending; every run's context (the
	// trigger payload, replies, fallback state) is emptied. Campaign, step,
	// state and times stay for the funnel.
	qEraseRuns = `
UPDATE flow_runs
   SET state = CASE WHEN state IN ('active', 'waiting', 'paused') THEN 'cancelled' ELSE state END,
       ended_at = CASE WHEN state IN ('active', 'waiting', 'paused') THEN $2 ELSE ended_at END,
       next_at = NULL, context = '{}'::jsonb
 WHERE ` + subscriberRuns

	// Messages keep campaign, step, channel, attempt, status and times for
	// the figures; the rendered content, the address, the provider's id
	// (Telegram's holds the chat id) and the provider's error text go, and no
	// fallback follows.
	// The rows are locked in id order: a fallback check holds a rung's
	// parent while the ledger writes the rung (a later row) on the pool
	// (ledger.go), so the erasure must wait at the parent, not hold the rung.
	qEraseMessages = `
UPDATE messages
   SET content = '{}'::jsonb, address = '', provider_id = NULL, error_message = NULL,
       fallback_at = NULL
 WHERE id IN (SELECT id FROM messages WHERE subscriber_id = $1 ORDER BY id FOR UPDATE)`

	qExportMessages = `
SELECT coalesce(json_agg(json_build_object('id', id, 'campaign_id', campaign_id, 'step_id', step_id, 'topic', topic,
       'channel', channel, 'address', address, 'attempt', attempt, 'status', status, 'content', content,
       'created_at', created_at, 'sent_at', sent_at, 'delivered_at', delivered_at, 'read_at', read_at,
       'failed_at', failed_at, 'error_message', error_message) ORDER BY id), '[]')
  FROM messages WHERE subscriber_id = $1`
	qExportRuns = `
SELECT coalesce(json_agg(json_build_object('id', id, 'campaign_id', campaign_id, 'campaign_version', campaign_version,
       'state', state, 'step_id', step_id, 'context', context, 'started_at', started_at, 'ended_at', ended_at) ORDER BY id), '[]')
  FROM flow_runs WHERE ` + subscriberRuns
)

// EraseSubscriber is the worker's share of erasing a subscriber: their runs
// still in flight end at `at` without sending, and the texts, addresses and
// provider ids of their messages are scrubbed. q is the erasing transaction.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64, at time.Time) error {
	if err := db.Erase(ctx, q, "flow runs", qEraseRuns, subscriberID, at); err != nil {
		return err
	}
	return db.Erase(ctx, q, "messages", qEraseMessages, subscriberID)
}

// Export is what the worker holds about one subscriber.
type Export struct {
	Messages json.RawMessage `json:"messages"` // every message sent or attempted, with its content
	Runs     json.RawMessage `json:"runs"`     // campaign runs with their context
}

// ExportSubscriber returns the subscriber's messages and runs, for an access
// request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64) (Export, error) {
	var e Export
	err := db.ExportSections(ctx, q, []db.Section{
		{What: "messages", Query: qExportMessages, Dst: &e.Messages},
		{What: "runs", Query: qExportRuns, Dst: &e.Runs},
	}, subscriberID)
	return e, err
}
