package consent

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

	sqlCurrent = `
SELECT granted FROM consent_events
 WHERE subscriber_id = $1 AND topic = $2 AND channel IN ($3, '*')
 ORDER BY id DESC LIMIT 1`

	sqlState = `
SELECT subscriber_id, channel, topic, granted, source, created_at
  FROM consent_state WHERE subscriber_id = $1
 ORDER BY channel, topic`

	sqlHistory = `
SELECT id, subscriber_id, channel, topic, granted, source, proof, created_at
  FROM consent_events WHERE subscriber_id = $1
 ORDER BY id`

	sqlGrantedOn = `
SELECT DISTINCT ON (topic) topic, granted FROM consent_events
 WHERE subscriber_id = $1 AND channel IN ($2, '*')
 ORDER BY topic, id DESC`

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
SELECT id, subscriber_id FROM channel_identities WHERE channel = $1 AND address = $2 FOR UPDATE`

	sqlInsertIdentity = `
INSERT INTO channel_identities (subscriber_id, channel, address, last_inbound_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (channel, address) DO NOTHING
RETURNING id`

	sqlRebindIdentity = `
UPDATE channel_identities SET subscriber_id = $2, last_inbound_at = $3, blocked_at = NULL WHERE id = $1`

	sqlTouchIdentity = `
UPDATE channel_identities SET last_inbound_at = $2, blocked_at = NULL WHERE id = $1`

	sqlIdentitySubscriber = `
SELECT subscriber_id FROM channel_identities WHERE channel = $1 AND address = $2`

	// Start events double as the dedupe record of a provider event: a webhook
	// redelivered with the same event id finds its key taken.
	sqlInsertStartEvent = `
INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload, idempotency_key)
VALUES ($1, 'consent.opt_in', $2, $3, $4)
ON CONFLICT (subscriber_id, idempotency_key) DO NOTHING
RETURNING id`
)
