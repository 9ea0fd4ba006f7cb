package inbox

import (
	"context"
	"encoding/json"

	"github.com/nudge-engine/nudge/internal/db"
)

// SQL of erasure and export. Erasure keeps every row with its times, kinds,
// sentiments and outcomes (the dashboard counts them) and blanks the words.
const (
	qEraseConversations = `UPDATE conversations SET note = '' WHERE subscriber_id = $1`
	qEraseItems         = `
UPDATE conversation_items SET text = ''
 WHERE conversation_id IN (SELECT id FROM conversations WHERE subscriber_id = $1)`
	qEraseReplies  = `UPDATE replies SET text = '', payload = '', detail = '' WHERE subscriber_id = $1`
	qEraseHandoffs = `UPDATE handoffs SET note = '' WHERE subscriber_id = $1`

	qExportConversations = `
SELECT coalesce(json_agg(json_build_object('id', c.id, 'channel', c.channel, 'queue', c.queue, 'state', c.state,
       'reason', c.reason, 'note', c.note, 'opened_at', c.opened_at, 'resolved_at', c.resolved_at,
       'resolution', c.resolution,
       'items', (SELECT coalesce(json_agg(json_build_object('kind', i.kind, 'text', i.text, 'created_at', i.created_at)
                                          ORDER BY i.id), '[]')
                   FROM conversation_items i WHERE i.conversation_id = c.id)) ORDER BY c.id), '[]')
  FROM conversations c WHERE c.subscriber_id = $1`
	qExportReplies = `
SELECT coalesce(json_agg(json_build_object('id', id, 'channel', channel, 'campaign_id', campaign_id, 'step_id', step_id,
       'text', text, 'payload', payload, 'sentiment', sentiment, 'outcome', outcome, 'created_at', created_at) ORDER BY id), '[]')
  FROM replies WHERE subscriber_id = $1`
	qExportHandoffs = `
SELECT coalesce(json_agg(json_build_object('id', id, 'campaign_id', campaign_id, 'step_id', step_id, 'queue', queue,
       'note', note, 'created_at', created_at, 'resolved_at', resolved_at) ORDER BY id), '[]')
  FROM handoffs WHERE subscriber_id = $1`
)

// EraseSubscriber is the inbox's share of erasing a subscriber: the texts of
// their replies, conversation items (the customer's, the managers' and the
// notes that quote them) and hand-off notes are blanked. q is the erasing
// transaction.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64) error {
	for _, st := range []struct{ what, query string }{
		{"conversation items", qEraseItems},
		{"conversations", qEraseConversations},
		{"replies", qEraseReplies},
		{"hand-offs", qEraseHandoffs},
	} {
		if err := db.Erase(ctx, q, st.what, st.query, subscriberID); err != nil {
			return err
		}
	}
	return nil
}

// Export is what the inbox holds about one subscriber.
type Export struct {
	Conversations json.RawMessage `json:"conversations"` // with their items, oldest first
	Replies       json.RawMessage `json:"replies"`
	Handoffs      json.RawMessage `json:"handoffs"`
}

// ExportSubscriber returns the subscriber's conversations, replies and
// hand-offs, for an access request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64) (Export, error) {
	var e Export
	err := db.ExportSections(ctx, q, []db.Section{
		{What: "conversations", Query: qExportConversations, Dst: &e.Conversations},
		{What: "replies", Query: qExportReplies, Dst: &e.Replies},
		{What: "hand-offs", Query: qExportHandoffs, Dst: &e.Handoffs},
	}, subscriberID)
	return e, err
}
