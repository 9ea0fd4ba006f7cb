package consent

import "github.com/nudge-engine/nudge/hooks"

// Every SQL statement of the package. All parameterised.

const (
	// The advisory lock serialises consent writers per subscriber, so that of
	// two racing writers the one that commits later also has the larger id
	// (the lock is taken before the row's id is drawn and held to commit).
	// One statement, so it is safe on the pool as well as in a transaction.
	sqlInsertEvent = `
WITH l AS (SELECT pg_advisory_xact_lock($1::bigint))
INSERT INTO consent_events (subscriber_id, channel, topic, granted, source, proof)
SELECT $1, $2, $3, $4, $5, $6 FROM l
RETURNING id, created_at`

	// Every topic of a channel revoked at once (an opt-out, a block), under
	// the lock as in sqlInsertEvent; $5 is Topics, in its order.
	sqlRevokeChannel = `
WITH l AS (SELECT pg_advisory_xact_lock($1::bigint))
INSERT INTO consent_events (subscriber_id, channel, topic, granted, source, proof)
SELECT $1, $2, t.topic, false, $3, $4::jsonb
  FROM l, unnest($5::text[]) WITH ORDINALITY AS t(topic, n)
 ORDER BY t.n`

	// The writers' and the senders' locks, per subscriber in id order.
	sqlLock       = `SELECT count(pg_advisory_xact_lock(x)) FROM (SELECT DISTINCT unnest($1::bigint[]) AS x ORDER BY 1) s`
	sqlLockShared = `SELECT count(pg_advisory_xact_lock_shared(x)) FROM (SELECT DISTINCT unnest($1::bigint[]) AS x ORDER BY 1) s`
	// A try never waits, so its order does not matter for deadlocks.
	sqlTryLockShared = `SELECT x AS id, pg_try_advisory_xact_lock_shared(x) AS ok FROM (SELECT DISTINCT unnest($1::bigint[]) AS x ORDER BY 1) s`

	// The newest event per (subscriber, channel) of topic $2, '*' rows as
	// their own channel (Grants applies the rule). The lateral subquery per id
	// walks consent_events_current (subscriber_id, channel, topic, id DESC),
	// so the cost follows the batch, not the table.
	sqlNewestPerChannel = `
SELECT u.id, e.channel, e.granted, e.id
  FROM unnest($1::bigint[]) AS u(id)
 CROSS JOIN LATERAL (
       SELECT DISTINCT ON (channel) channel, granted, id FROM consent_events
        WHERE subscriber_id = u.id AND topic = $2
        ORDER BY channel, id DESC) e`

	sqlBlockIdentity = `
UPDATE channel_identities SET blocked_at = coalesce(blocked_at, $3)
 WHERE channel = $1 AND address = $2 AND account = $4
RETURNING subscriber_id`

	sqlUnblockIdentity = `UPDATE channel_identities SET blocked_at = NULL WHERE channel = $1 AND address = $2 AND account = $3`

	// The one allowed UPDATE of the append-only ledger: only the personal
	// keys present in proof are replaced by the pseudonym; every other key,
	// the row, its time, source and state stay as they were.
	sqlPseudonymise = `
UPDATE consent_events
   SET proof = proof || (SELECT jsonb_object_agg(k, to_jsonb($2::text)) FROM unnest($3::text[]) AS k WHERE proof ? k)
 WHERE subscriber_id = $1 AND proof ?| $3::text[]`

	sqlState = `
SELECT subscriber_id, channel, topic, granted, source, created_at
  FROM consent_state WHERE subscriber_id = $1
 ORDER BY channel, topic`

	sqlHistory = `
SELECT id, subscriber_id, channel, topic, granted, source, proof, created_at
  FROM consent_events WHERE subscriber_id = $1
 ORDER BY id`

	sqlInsertCode = `
INSERT INTO consent_codes (code, subscriber_id, topics, source, attribution, text_version, jti, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

	sqlLockCode = `
SELECT code, subscriber_id, topics, source, attribution, text_version, COALESCE(jti, '') AS jti,
       expires_at, use_count, used_channels, created_at
  FROM consent_codes WHERE code = $1 FOR UPDATE`

	sqlGetCode = `
SELECT code, subscriber_id, topics, source, attribution, text_version, COALESCE(jti, '') AS jti,
       expires_at, use_count, used_channels, created_at
  FROM consent_codes WHERE code = $1`

	sqlUseCode = `
UPDATE consent_codes
   SET use_count = use_count + 1, last_used_at = $3,
       used_channels = CASE WHEN $2 = ANY(used_channels) THEN used_channels ELSE array_append(used_channels, $2) END
 WHERE code = $1`

	sqlPruneJTI = `DELETE FROM consent_jwt_uses WHERE expires_at < $1`

	// A code still referenced by a not-yet-prunable jti stays.
	sqlPruneCodes = `
DELETE FROM consent_codes c WHERE c.expires_at < $1
   AND NOT EXISTS (SELECT 1 FROM consent_jwt_uses u WHERE u.code = c.code)`

	sqlInsertJTI = `
INSERT INTO consent_jwt_uses (issuer, jti, subscriber_id, code, expires_at, used_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (issuer, jti) DO NOTHING`

	// Minimal upsert by the shop's customer id (the JWT names the customer):
	// empty fields keep what the subscriber store already holds.
	sqlUpsertCustomer = `
INSERT INTO subscribers (external_id, name, locale, time_zone)
VALUES ($1, $2, COALESCE(NULLIF($3, ''), 'ru'), COALESCE(NULLIF($4, ''), 'Europe/Moscow'))
ON CONFLICT (external_id) DO UPDATE SET
   name      = CASE WHEN $2 <> '' THEN $2 ELSE subscribers.name END,
   locale    = CASE WHEN $3 <> '' THEN $3 ELSE subscribers.locale END,
   time_zone = CASE WHEN $4 <> '' THEN $4 ELSE subscribers.time_zone END,
   updated_at = now()
RETURNING id`

	sqlSubscriberByExternal = `SELECT id FROM subscribers WHERE external_id = $1`

	sqlInsertAnonymous = `
INSERT INTO subscribers (locale, name) VALUES (COALESCE(NULLIF($1, ''), 'ru'), $2) RETURNING id`

	sqlLockIdentity = `
SELECT id, subscriber_id FROM channel_identities WHERE channel = $1 AND address = $2 AND account = $3 FOR UPDATE`

	sqlInsertIdentity = `
INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at, account)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (channel, account, address) DO NOTHING
RETURNING id`

	sqlRebindIdentity = `
UPDATE channel_identities SET subscriber_id = $2, last_inbound_at = $3, blocked_at = NULL WHERE id = $1`

	sqlTouchIdentity = `
UPDATE channel_identities SET last_inbound_at = $2, blocked_at = NULL WHERE id = $1`

	sqlIdentitySubscriber = `
SELECT subscriber_id FROM channel_identities WHERE channel = $1 AND address = $2 AND account = $3`

	// Start events double as the dedupe record of a provider event: a webhook
	// redelivered with the same event id finds its key taken.
	sqlInsertStartEvent = `
INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload, idempotency_key)
VALUES ($1, 'consent.opt_in', $2, $3, $4)
ON CONFLICT (subscriber_id, idempotency_key) DO NOTHING
RETURNING id`
)

// Statements built from the rule's SQL (current.go), once.
var (
	sqlCurrent = `SELECT ` + CurrentSQL("$1", "$3", "$2")

	// The topics of $3 subscriber $1 currently consents to on channel $2.
	sqlGrantedOn = `
SELECT x.t FROM unnest($3::text[]) WITH ORDINALITY AS x(t, n)
 WHERE ` + CurrentSQL("$1", "$2", "x.t") + `
 ORDER BY x.n`

	// Per recipient, 1-based: consent current and the address not blocked.
	sqlSendable = `
SELECT u.i, ` + CurrentSQL("u.sub", "u.ch", "u.topic") + `
   AND NOT EXISTS (SELECT 1 FROM channel_identities ci
                    WHERE ci.subscriber_id = u.sub AND ci.channel = u.ch AND ci.address = u.addr
                      AND ci.account = u.acc AND ci.blocked_at IS NOT NULL) AS ok
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(sub, ch, addr, topic, acc, i)`

	// An imported statement is recorded only when it differs from the
	// subscriber's newest '*' event of the topic (none counts as different).
	sqlImport = `
INSERT INTO consent_events (subscriber_id, channel, topic, granted, source, proof)
SELECT u.sub, '*', u.topic, u.granted, 'import', u.proof::jsonb
  FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::text[]) WITH ORDINALITY AS u(sub, topic, granted, proof, n)
 WHERE ` + latestSQL("u.sub", "'*'", "u.topic") + ` IS DISTINCT FROM u.granted
 ORDER BY u.n
RETURNING subscriber_id, topic, granted`
)

// The webhook events of an import batch's new ledger rows, in one statement:
// one per (subscriber, opt-in or opt-out), in the batch's order. The first
// condition is evaluated once: with no endpoint for consent events, a large
// batch calls nothing per row.
var sqlImportEvents = `SELECT ` + hooks.EmitSQL("u.sub", "u.typ", "u.data::jsonb", "NULL") + `
  FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(sub, typ, data)
 WHERE (SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND events && ARRAY['` +
	string(hooks.OptIn) + `', '` + string(hooks.OptOut) + `']))`
