package inbox

import "github.com/nudge-engine/nudge/hooks"

// SQL of the inbox, in one place.

// The reply and its webhook event (hooks), in one statement: a
// redelivered reply (the conflict) reports nothing.
var qInsertReply = `WITH answered AS (
	                    SELECT id, sent_at FROM messages
	                     WHERE subscriber_id = $3 AND ($4::bigint IS NULL OR run_id = $4) AND sent_at IS NOT NULL AND sent_at <= $16
	                     ORDER BY sent_at DESC LIMIT 1),
	                ins AS (INSERT INTO replies (channel, provider_event_id, subscriber_id, run_id, campaign_id, campaign_version, step_id,
	                    answered_message_id, text, payload, sentiment, rule, detail, outcome, goto_step, reaction_ms, conversation_id, created_at, label)
	                VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT id FROM answered), $8, $9, $10, $11, $12, $13, $14,
	                    (SELECT (extract(epoch FROM $17::timestamptz - sent_at) * 1000000)::bigint / 1000 FROM answered), $15, $16, $18)
	                ON CONFLICT (channel, provider_event_id) DO NOTHING
	                RETURNING subscriber_id)
	                SELECT ` + hooks.EmitSQL("ins.subscriber_id", "'"+string(hooks.Reply)+"'", "$19::jsonb", "$16") + ` FROM ins`

// replyText is how a reply r reads in a conversation, in the list and in the
// history alike: its text, else the pressed button's label (its id when no
// label is known), else what it carried ("[photo]").
const replyText = `CASE WHEN r.text <> '' THEN r.text WHEN r.label <> '' THEN r.label
	                WHEN r.payload <> '' THEN '[' || r.payload || ']'
	                ELSE coalesce((SELECT '[' || string_agg(x.kind, ', ' ORDER BY x.idx) || ']' FROM reply_media x
	                                WHERE x.channel = r.channel AND x.provider_event_id = r.provider_event_id), '') END`

// who tells apart customers of the same name: the last four digits of a
// phone they are reachable on (c is the conversation row).
const phoneTail = `coalesce((SELECT right(ci.address, 4) FROM channel_identities ci
	                 WHERE ci.subscriber_id = c.subscriber_id AND ci.channel IN ('sms', 'whatsapp') AND ci.address LIKE '+%'
	                 ORDER BY ci.id LIMIT 1), '') AS phone_tail`

const (
	// The sender of a reply in one round trip: it opens the channel's 24h
	// window (last_inbound_at) and returns the subscriber, their open
	// conversation, and the newest runs (at most 5) that wait for a reply,
	// newest first, with the subscriber's time zone (the runs' next steps
	// are timed in it: Runs.MoveRead). No row: the address is unknown
	// (subscribers.Anonymous).
	qSender = `WITH i AS (
	               UPDATE channel_identities SET last_inbound_at = greatest(coalesce(last_inbound_at, $3), $3)
	                WHERE channel = $1 AND address = $2 AND account = $4
	               RETURNING subscriber_id)
	           SELECT i.subscriber_id,
	                  (SELECT s.time_zone FROM subscribers s WHERE s.id = i.subscriber_id) AS time_zone,
	                  (SELECT c.id FROM conversations c WHERE c.subscriber_id = i.subscriber_id AND c.state = 'open') AS conversation_id,
	                  (SELECT coalesce(json_agg(w ORDER BY w.updated_at DESC), '[]')
	                     FROM (SELECT r.id, r.campaign_id, r.campaign_version, r.step_id, r.step_seq, r.updated_at
	                             FROM flow_runs r
	                            WHERE r.subscriber_id = i.subscriber_id AND r.state = 'waiting'
	                            ORDER BY r.updated_at DESC LIMIT 5) w) AS waiting_runs
	             FROM i`
	// The subscriber's live runs, waiting while a claim holds them (FOR
	// SHARE conflicts with the claim's FOR NO KEY UPDATE). 'waiting' counts
	// too: after the wait, Postgres re-checks the row as the claim left it.
	qWaitForClaims = `SELECT count(*) FROM (SELECT 1 FROM flow_runs WHERE subscriber_id = $1 AND state IN ('active', 'waiting') FOR SHARE) r`
	// The text of button $2 in the newest message sent to subscriber $1 that
	// offered it (messages.content.buttons, as the outbox stored them).
	qPressLabel = `SELECT b->>'text' FROM messages m, jsonb_array_elements(m.content->'buttons') b
	                WHERE m.subscriber_id = $1 AND m.sent_at IS NOT NULL AND b->>'id' = $2
	                ORDER BY m.sent_at DESC LIMIT 1`
	// A reply with the message it answers: the newest sent one of the run (or
	// of the subscriber), and the reaction time in whole milliseconds,
	// truncated like time.Duration.Milliseconds ($17 is $16 truncated to
	// microseconds, so the difference is exact).
	// nudge_inbox_open (migration 00013) opens or joins the conversation,
	// adds the hand-off note and notifies live pages.
	qOpen    = `SELECT nudge_inbox_open($1, $2, $3, $4, $5, $6, $7)`
	qAddItem = `INSERT INTO conversation_items (conversation_id, kind, author_id, text, message_id, created_at)
	            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`
	// The customer's words in their conversation, its last_customer_at, the
	// account they wrote from on its channel ($5, $6: the reply goes back
	// through it) and the live pages' notification, in one statement.
	qCustomerItem = `WITH item AS (
	                     INSERT INTO conversation_items (conversation_id, kind, text, created_at) VALUES ($1, 'customer', $2, $3)),
	                      conv AS (UPDATE conversations SET last_customer_at = $3,
	                                      account = CASE WHEN channel = $5 THEN $6 ELSE account END WHERE id = $1)
	                 SELECT pg_notify('nudge_inbox', $4)`
	qNotify = `SELECT pg_notify('nudge_inbox', $1)`

	// A run's hand-off: the run's own subscriber and campaign, the step and
	// seq it handed off at. The handoffs_to_inbox trigger opens the conversation.
	qHandOff = `INSERT INTO handoffs (run_id, subscriber_id, campaign_id, step_id, step_seq, queue, note, created_at)
	            SELECT id, subscriber_id, campaign_id, $2, $3, $4, $5, $6 FROM flow_runs WHERE id = $1
	            ON CONFLICT (run_id, step_seq) DO NOTHING`
	// Resolves a run's open hand-offs, returning where each paused the run:
	// the step, and the seq the pause left (the hand-off's seq + 1).
	qResolveRunHandoffs = `UPDATE handoffs h SET resolved_at = $2
	                         FROM flow_runs f
	                        WHERE h.run_id = $1 AND h.resolved_at IS NULL AND f.id = h.run_id
	                    RETURNING h.id, h.step_id, h.step_seq + 1 AS seq, f.campaign_id, f.campaign_version`

	qList = `SELECT c.id, c.subscriber_id, coalesce(s.external_id, '') AS external_id, s.name, c.channel, c.queue, c.reason,
	                c.note, c.state, c.assignee_id, coalesce(u.email, '') AS assignee, c.opened_at, c.last_customer_at,
	                c.first_response_at, c.resolved_at,
	                (c.state = 'open' AND c.first_response_at IS NULL AND c.opened_at < $5) AS overdue,
	                coalesce((SELECT ` + replyText + ` FROM replies r WHERE r.subscriber_id = c.subscriber_id
	                           ORDER BY r.created_at DESC, r.id DESC LIMIT 1), '') AS last_text, ` + phoneTail + `
	           FROM conversations c
	           JOIN subscribers s ON s.id = c.subscriber_id
	           LEFT JOIN users u ON u.id = c.assignee_id
	          WHERE ($1 = 'all' AND c.state = 'open'
	              OR $1 = 'mine' AND c.state = 'open' AND c.assignee_id = $2
	              OR $1 = 'unassigned' AND c.state = 'open' AND c.assignee_id IS NULL
	              OR $1 = 'overdue' AND c.state = 'open' AND c.first_response_at IS NULL AND c.opened_at < $5
	              OR $1 = 'resolved' AND c.state = 'resolved')
	            AND ($3 = '' OR c.queue = $3)
	            AND (cardinality($6::text[]) = 0 OR c.queue = ANY($6))
	          ORDER BY c.opened_at DESC, c.id DESC
	          LIMIT $4`
	qGet = `SELECT c.id, c.subscriber_id, coalesce(s.external_id, '') AS external_id, s.name, c.channel, c.queue, c.reason,
	               c.note, c.state, c.assignee_id, coalesce(u.email, '') AS assignee, c.opened_at, c.last_customer_at,
	               c.first_response_at, c.resolved_at,
	               (c.state = 'open' AND c.first_response_at IS NULL AND c.opened_at < $2) AS overdue, '' AS last_text, ` + phoneTail + `
	          FROM conversations c
	          JOIN subscribers s ON s.id = c.subscriber_id
	          LEFT JOIN users u ON u.id = c.assignee_id
	         WHERE c.id = $1`
	// The full history of the subscriber: what the bot sent (with statuses),
	// what the customer wrote (with classification), what managers did.
	qHistory = `SELECT * FROM (
	    SELECT coalesce(m.sent_at, m.created_at) AS at, 0 AS ord, CASE WHEN m.campaign_id = '' THEN 'manager' ELSE 'bot' END AS kind,
	           m.channel, coalesce(m.content->>'text', '') AS text, m.status, m.attempt,
	           m.campaign_id, m.step_id, '' AS sentiment, '' AS rule,
	           coalesce(m.error_message, CASE WHEN m.status = 'skipped' THEN m.reason END, '') AS detail,
	           '' AS button, NULL::json AS media
	      FROM messages m WHERE m.subscriber_id = $1
	    UNION ALL
	    SELECT r.created_at, 1, 'customer', r.channel, ` + replyText + `,
	           '', 0, r.campaign_id, r.step_id, r.sentiment, r.rule, r.detail, r.payload,
	           (SELECT json_agg(json_build_object('id', x.id, 'kind', x.kind, 'mime', x.mime, 'name', x.name, 'size', x.size,
	                                              'stored', x.data IS NOT NULL, 'note', x.note) ORDER BY x.idx)
	              FROM reply_media x WHERE x.channel = r.channel AND x.provider_event_id = r.provider_event_id)
	      FROM replies r WHERE r.subscriber_id = $1
	    UNION ALL
	    SELECT i.created_at, CASE i.kind WHEN 'system' THEN 2 ELSE 3 END, i.kind, '', i.text, '', 0, '', '', '', '', coalesce(u.email, ''),
	           '', NULL
	      FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id
	      LEFT JOIN users u ON u.id = i.author_id
	     WHERE c.subscriber_id = $1 AND i.kind IN ('note', 'system')
	  ) h ORDER BY at, ord LIMIT 500`
	// A reply's attachment, kept or noted (ON CONFLICT: a redelivered or
	// reprocessed event keeps the first row).
	qInsertMedia = `INSERT INTO reply_media (subscriber_id, channel, provider_event_id, idx, kind, mime, name, size, data, note, created_at)
	                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	                ON CONFLICT (channel, provider_event_id, idx) DO NOTHING`
	qMediaStored = `SELECT count(*) FROM reply_media WHERE channel = $1 AND provider_event_id = $2`
	qMedia       = `SELECT id, kind, mime, name, size, data, note FROM reply_media WHERE id = $1`
	// Shifts: a manager goes on (queues, none = all) or off.
	qShiftOn = `INSERT INTO inbox_shifts (user_id, queues, since) VALUES ($1, $2, $3)
	            ON CONFLICT (user_id) DO UPDATE SET queues = EXCLUDED.queues`
	qShiftOff = `DELETE FROM inbox_shifts WHERE user_id = $1`
	qShift    = `SELECT queues, since FROM inbox_shifts WHERE user_id = $1`
	qOnShift  = `SELECT s.user_id, u.email, s.queues, s.since FROM inbox_shifts s JOIN users u ON u.id = s.user_id ORDER BY u.email`
	qClaim    = `UPDATE conversations SET assignee_id = $2 WHERE id = $1 AND state = 'open' AND (assignee_id IS NULL OR assignee_id = $2)`
	qAssign   = `UPDATE conversations SET assignee_id = $2 WHERE id = $1 AND state = 'open'`
	qResponse = `UPDATE conversations SET first_response_at = coalesce(first_response_at, $2),
	                    assignee_id = coalesce(assignee_id, $3) WHERE id = $1`
	qResolve = `UPDATE conversations SET state = 'resolved', resolved_at = $2, resolved_by = $3, resolution = $4
	             WHERE id = $1 AND state = 'open' RETURNING run_ids`
	// The reply goes to the identity on the conversation's channel of the
	// account the conversation recorded (the customer's last message in it,
	// or the run's that handed off); without one, to the identity the
	// customer wrote from last (one per account of the channel).
	qConvTarget = `SELECT c.subscriber_id, c.channel, c.state, i.account, i.address, i.last_inbound_at, i.blocked_at, s.locale
	                 FROM conversations c
	                 JOIN subscribers s ON s.id = c.subscriber_id
	                 LEFT JOIN LATERAL (SELECT ci.account, ci.address, ci.last_inbound_at, ci.blocked_at FROM channel_identities ci
	                             WHERE ci.subscriber_id = c.subscriber_id AND ci.channel = c.channel
	                             ORDER BY ci.account = c.account DESC NULLS LAST, ci.last_inbound_at DESC NULLS LAST, ci.id DESC LIMIT 1) i ON true
	                WHERE c.id = $1`
	qFlagSLA = `UPDATE conversations SET sla_breached_at = $1
	               WHERE state = 'open' AND first_response_at IS NULL AND sla_breached_at IS NULL AND opened_at < $2
	               RETURNING id`
	qFigures = `SELECT
	    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY reaction_ms) FROM replies WHERE created_at >= $1 AND reaction_ms IS NOT NULL) AS reaction_p50_ms,
	    (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY reaction_ms) FROM replies WHERE created_at >= $1 AND reaction_ms IS NOT NULL) AS reaction_p90_ms,
	    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - opened_at))
	       FROM conversations WHERE opened_at >= $1 AND first_response_at IS NOT NULL) AS first_response_p50_s,
	    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at))
	       FROM conversations WHERE opened_at >= $1 AND resolved_at IS NOT NULL) AS resolution_p50_s,
	    (SELECT count(*) FROM conversations WHERE opened_at >= $1) AS conversations,
	    (SELECT count(*) FROM conversations c WHERE c.opened_at >= $1 AND EXISTS (
	        SELECT 1 FROM conversations p WHERE p.subscriber_id = c.subscriber_id AND p.resolved_at IS NOT NULL
	           AND p.resolved_at <= c.opened_at AND p.resolved_at > c.opened_at - interval '7 days')) AS repeat_contacts`
	qSentimentByStep = `SELECT campaign_id, step_id, sentiment, count(*) AS n FROM replies
	                     WHERE created_at >= $1 AND campaign_id <> '' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
)
