-- The in-flight ledger (worker/ledger.go): a message to a provider that does
-- not deduplicate on our idempotency key is committed as in_flight before its
-- provider call and as sent (or failed, pending) after. A claim that finds an
-- in_flight row of its own runs knows the worker that wrote it died between
-- those two commits: the message may or may not have reached the customer,
-- and it is marked unknown instead of being sent a second time.

-- +goose Up
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('pending', 'in_flight', 'sent', 'delivered', 'read', 'failed', 'skipped', 'unknown'));

-- +goose Down
UPDATE messages SET status = 'pending' WHERE status = 'in_flight';
UPDATE messages SET status = 'failed', error_kind = 'unknown' WHERE status = 'unknown';
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed', 'skipped'));
