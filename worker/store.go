package worker

import "github.com/nudge-engine/nudge/internal/db"

// All SQL of the worker. Ranges over a parameter (due runs, due fallback
// checks) are db.Unprepared: a generic plan cannot tell ten due rows from a
// million. Times compared with next_at / fallback_at come from
// the injected clock ($-parameters); leases use the database's now() because
// Asynq's own timing is wall time.
const (
	// Whether any run is due: the first entry of each slot of
	// flow_runs_work_slot decides (one probe a slot, migration 00034).
	qDueExists = db.Unprepared + `
SELECT EXISTS (SELECT 1 FROM flow_runs
                WHERE state IN ('active', 'waiting') AND next_at <= $1 AND id % 16 = ANY(` + allSlots + `))`

	// Due runs, counted up to $2, for the metrics gauge.
	qCountDue = db.Unprepared + `
SELECT count(*) FROM (SELECT 1 FROM flow_runs
                       WHERE state IN ('active', 'waiting') AND next_at <= $1 AND id % 16 = ANY(` + allSlots + `)
                       LIMIT $2) d`

	// allSlots are the claim slots of migration 00034 (id % claimSlots).
	allSlots = `'{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}'::bigint[]`

	// A claim (SQL function nudge_claim_runs, migrations 00007 and 00034):
	// due runs not claimed by another worker, locked until the claiming
	// transaction ends, oldest first within each slot, from slot $3 on.
	qClaimRuns = `
SELECT id, campaign_id, campaign_version, subscriber_id, step_id, step_seq, state, holdout, context, next_at
  FROM nudge_claim_runs($1, $2, $3)`

	qLeaseFallbacks = db.Unprepared + `
WITH due AS (
    SELECT id FROM messages
     WHERE fallback_at <= $1
       AND (fallback_dispatched_at IS NULL OR fallback_dispatched_at < now() - make_interval(secs => $2))
     ORDER BY fallback_at, id
     LIMIT $3
     FOR UPDATE SKIP LOCKED)
UPDATE messages m SET fallback_dispatched_at = now()
  FROM due WHERE m.id = due.id
RETURNING m.id`

	// Multi-row insert of messages from parallel arrays, each with its
	// outcome when it was sent in the same transaction.
	qInsertMessages = `
INSERT INTO messages (idempotency_key, subscriber_id, campaign_id, campaign_version, run_id, step_id,
                      topic, channel, account, address, attempt, status, content, reason,
                      error_kind, error_message, error_code, provider_id, tries, sent_at, failed_at, fallback_at, created_at)
SELECT k, s, $3, $4, r, $5, $6, ch, acc, a, att, st, c::jsonb, nullif(rs, ''),
       nullif(ek, ''), nullif(em, ''), nullif(ec, ''), nullif(pid, ''), tr,
       CASE WHEN st = 'sent' THEN at END, CASE WHEN st = 'failed' THEN at END, fb, at
  FROM unnest($1::text[], $2::bigint[], $7::bigint[], $8::text[], $9::text[], $10::int[], $11::text[],
              $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::int[],
              $19::timestamptz[], $20::timestamptz[], $21::text[])
       AS u(k, s, r, ch, a, att, st, c, rs, ek, em, ec, pid, tr, at, fb, acc)`

	// Fallback rungs may be decided twice for one parent (a lapsed lease):
	// the second insert of a key is a no-op. The step path inserts under its
	// runs' locks after reading the keys, where a conflict is a bug, and
	// skips the speculative insertion ON CONFLICT costs.
	qInsertMessagesOnce = qInsertMessages + `
ON CONFLICT (idempotency_key) DO NOTHING`

	qMessagesByKey = `
SELECT id, idempotency_key, subscriber_id, coalesce(run_id, 0) AS run_id, step_id, campaign_id, campaign_version,
       topic, channel, account, address, attempt, status, content, tries
  FROM nudge_messages_by_key($1)`

	// A person's message (a manager's reply), recorded pending before its
	// send; no row returned: the key was recorded before.
	qInsertPersonMessage = `
INSERT INTO messages (idempotency_key, subscriber_id, topic, channel, address, status, content, created_at, account)
VALUES ($1, $2, 'service', $3, $4, 'pending', $5, $6, $7)
ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`

	// Messages recorded by an earlier try, locked; rows another worker holds
	// are skipped.
	qLockPending = `
SELECT id, idempotency_key, subscriber_id, coalesce(run_id, 0) AS run_id, step_id, campaign_id, campaign_version,
       topic, channel, account, address, attempt, status, content, tries
  FROM messages WHERE idempotency_key = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED`

	// Set-based message outcome.
	qUpdateMessages = `
UPDATE messages m
   SET status = u.st,
       provider_id = coalesce(nullif(u.pid, ''), m.provider_id),
       sent_at = CASE WHEN u.st = 'sent' THEN u.at ELSE m.sent_at END,
       failed_at = CASE WHEN u.st = 'failed' THEN u.at ELSE m.failed_at END,
       error_kind = nullif(u.ek, ''), error_code = nullif(u.ec, ''), error_message = nullif(u.em, ''),
       reason = coalesce(nullif(u.rs, ''), m.reason),
       fallback_at = u.fb, fallback_dispatched_at = NULL, tries = u.tr
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::timestamptz[], $10::int[])
       AS u(id, st, pid, at, ek, ec, em, rs, fb, tr)
 WHERE m.id = u.id AND m.status IN ('pending', 'in_flight')`

	// Outcomes of messages the in-flight ledger committed before their sends
	// (ledger.go), by key; a row another claim has since marked unknown stays so.
	qSettleInFlight = `
UPDATE messages m
   SET status = u.st, provider_id = nullif(u.pid, ''),
       sent_at = CASE WHEN u.st = 'sent' THEN u.at END,
       failed_at = CASE WHEN u.st = 'failed' THEN u.at END,
       error_kind = nullif(u.ek, ''), error_code = nullif(u.ec, ''), error_message = nullif(u.em, ''),
       reason = coalesce(nullif(u.rs, ''), m.reason), fallback_at = u.fb, tries = u.tr
  FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::timestamptz[], $10::int[])
       AS u(k, st, pid, at, ek, ec, em, rs, fb, tr)
 WHERE m.idempotency_key = u.k AND m.status = 'in_flight'`

	// In-flight rows of messages no provider was called for: fresh ones
	// ($1) go, retried ones ($2) are pending again.
	qForgetInFlight = `
WITH gone AS (DELETE FROM messages WHERE idempotency_key = ANY($1) AND status = 'in_flight')
UPDATE messages SET status = 'pending' WHERE idempotency_key = ANY($2) AND status = 'in_flight'`

	// Pending (or crash-left in-flight) rows read without a row lock: the
	// ledger's retries, whose runs (or fallback parents) the claim holds
	// (ledger.go).
	qPendingByKey = `
SELECT id, idempotency_key, subscriber_id, coalesce(run_id, 0) AS run_id, step_id, campaign_id, campaign_version,
       topic, channel, account, address, attempt, status, content, tries
  FROM messages WHERE idempotency_key = ANY($1) ORDER BY id`

	// A ledger group's retried rows before their sends: in_flight, skipped
	// (no consent) or pending (yielded to an opt-out), as fresh rows are
	// inserted.
	qMarkRetries = `
UPDATE messages m
   SET status = u.st, reason = coalesce(nullif(u.rs, ''), m.reason), fallback_dispatched_at = NULL
  FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, st, rs)
 WHERE m.idempotency_key = u.k AND m.status IN ('pending', 'in_flight')`

	// Set-based run transitions, compare-and-set on step_seq.
	qTransition = `
UPDATE flow_runs f
   SET state = u.state, step_id = u.step, step_seq = f.step_seq + 1, next_at = u.next_at,
       context = CASE WHEN u.ctx = '{}' THEN f.context ELSE f.context || u.ctx::jsonb END, updated_at = now(),
       ended_at = CASE WHEN u.state IN ('done', 'failed', 'cancelled') THEN now() END
  FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
       AS u(id, seq, state, step, next_at, ctx)
 WHERE f.id = u.id AND f.step_seq = u.seq
RETURNING f.id`

	// Deferral keeps the step and its seq (no message was created).
	// Deferral keeps the step and its seq (the message, if any, stays recorded).
	qDefer = `
UPDATE flow_runs f SET next_at = u.next_at, updated_at = now()
  FROM unnest($1::bigint[], $2::int[], $3::timestamptz[]) AS u(id, seq, next_at)
 WHERE f.id = u.id AND f.step_seq = u.seq`

	qSetAttributes = `UPDATE subscribers SET attributes = attributes || $2::jsonb, updated_at = now() WHERE id = $1`

	qHasEvent = `
SELECT EXISTS (SELECT 1 FROM subscriber_events
                WHERE subscriber_id = $1 AND name = $2 AND ($3::timestamptz IS NULL OR occurred_at >= $3)
                  AND occurred_at <= $4)`

	qPauseRun = `
UPDATE flow_runs SET state = 'paused', step_seq = step_seq + 1, next_at = NULL, updated_at = now()
 WHERE id = $1 AND step_seq = $2`

	// A run about to be moved by a reply or a resolved hand-off, with its
	// subscriber's zone; the move itself is a compare-and-set on step_seq.
	qRunToMove = `
SELECT f.campaign_id, f.campaign_version, f.subscriber_id, f.step_id, f.step_seq, f.state, s.time_zone
  FROM flow_runs f JOIN subscribers s ON s.id = f.subscriber_id WHERE f.id = $1`

	// Fallback.
	// Fallback parents, locked, with their run's context (a rung renders
	// with the run's payload, as the step did).
	qLockFallbacks = `
SELECT m.id, m.idempotency_key, m.subscriber_id, coalesce(m.run_id, 0) AS run_id, m.step_id, m.campaign_id,
       m.campaign_version, m.topic, m.channel, m.account, m.address, m.attempt, m.status, m.content, m.tries,
       coalesce(m.error_kind, '') AS error_kind, coalesce(f.context, '{}') AS run_context
  FROM messages m LEFT JOIN flow_runs f ON f.id = m.run_id
 WHERE m.id = ANY($1) AND m.fallback_at <= $2
 ORDER BY m.id
   FOR UPDATE OF m SKIP LOCKED`
	qClearFallback = `UPDATE messages SET fallback_at = NULL, fallback_dispatched_at = NULL WHERE id = ANY($1)`
	qMoveFallback  = `
UPDATE messages m SET fallback_at = u.at, fallback_dispatched_at = NULL
  FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, at) WHERE m.id = u.id`

	// Statuses.
	// A status by the provider's message id, and in the same statement (so
	// on the same snapshot) whether any message carries that id: as two
	// statements, a send committing its provider id between them made an
	// early status look stale (nothing moved, yet the id known) and it was
	// dropped. known is false only on the row of no moved message.
	qStatusByProviderID = `
WITH moved AS (
UPDATE messages SET
       status = CASE WHEN $3 = 'failed' THEN 'failed'
                     WHEN $3 = 'read' THEN 'read'
                     WHEN status = 'read' THEN status ELSE 'delivered' END,
       delivered_at = CASE WHEN $3 IN ('delivered', 'read') THEN coalesce(delivered_at, $4) ELSE delivered_at END,
       read_at = CASE WHEN $3 = 'read' THEN coalesce(read_at, $4) ELSE read_at END,
       failed_at = CASE WHEN $3 = 'failed' THEN $4 ELSE failed_at END,
       error_kind = CASE WHEN $3 = 'failed' THEN nullif($5, '') ELSE error_kind END,
       error_code = CASE WHEN $3 = 'failed' THEN nullif($6, '') ELSE error_code END,
       error_message = CASE WHEN $3 = 'failed' THEN nullif($7, '') ELSE error_message END,
       -- A failure is checked by the fallback ladder at once; a window_closed
       -- failure of a free-form message that has a template or tag is too,
       -- without a ladder: it is sent again with them (fallback.go).
       fallback_at = CASE WHEN $3 = 'failed' AND (fallback_at IS NOT NULL OR
                                                  ($5 = 'window_closed' AND content->>'free_form' = 'true'))
                          THEN $4 ELSE fallback_at END
 WHERE channel = $1 AND provider_id = $2
   AND (status IN ('sent', 'delivered') OR ($3 = 'read' AND status = 'delivered'))
   AND NOT ($3 = 'delivered' AND status = 'delivered')
RETURNING id, subscriber_id, account, address)
SELECT id, subscriber_id, account, address, true AS known FROM moved
UNION ALL
SELECT 0, 0, '', '', EXISTS (SELECT 1 FROM messages WHERE channel = $1 AND provider_id = $2)
 WHERE NOT EXISTS (SELECT 1 FROM moved)`
	// By the recipient's subscriber (messages_cap index), then channel and address.
	qStatusByWatermark = `
UPDATE messages SET
       status = CASE WHEN $4 = 'read' THEN 'read' WHEN status = 'read' THEN status ELSE 'delivered' END,
       delivered_at = coalesce(delivered_at, $3),
       read_at = CASE WHEN $4 = 'read' THEN coalesce(read_at, $3) ELSE read_at END
 WHERE subscriber_id IN (SELECT subscriber_id FROM channel_identities WHERE channel = $1 AND account = $5 AND address = $2)
   AND channel = $1 AND account IN ($5, '') AND address = $2 AND sent_at <= $3
   AND (status = 'sent' OR ($4 = 'read' AND status = 'delivered'))`
)
