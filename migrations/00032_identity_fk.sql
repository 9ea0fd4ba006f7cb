-- What an import pays per identity (issue 18, issue 19 item 5).
--
-- channel_identities.subscriber_id and subscriber_rollup.subscriber_id
-- reference subscribers: each identity an import inserts (three per file
-- row: the phone for WhatsApp and for SMS, the email) looks the subscriber
-- up and locks its row FOR KEY SHARE, and so does each rollup row the
-- identities' trigger inserts. Measured on 200,000 subscribers and their
-- 600,000 identities in one statement, the two checks are a quarter of the
-- insert (7.2 s → 5.3–5.6 s of one backend). Every writer makes an identity
-- for a subscriber it created or read in the same transaction (the import,
-- inbound, the opt-in, the API), and nothing deletes subscribers: erasure
-- pseudonymises the subscriber and deletes its identities, as 00030 says of
-- flow_runs. internal/archtest fails when a statement deletes subscribers.

-- +goose Up
ALTER TABLE channel_identities DROP CONSTRAINT channel_identities_subscriber_id_fkey;
ALTER TABLE subscriber_rollup DROP CONSTRAINT subscriber_rollup_subscriber_id_fkey;

-- +goose Down
ALTER TABLE subscriber_rollup ADD CONSTRAINT subscriber_rollup_subscriber_id_fkey
    FOREIGN KEY (subscriber_id) REFERENCES subscribers(id) ON DELETE CASCADE;
ALTER TABLE channel_identities ADD CONSTRAINT channel_identities_subscriber_id_fkey
    FOREIGN KEY (subscriber_id) REFERENCES subscribers(id) ON DELETE CASCADE;
