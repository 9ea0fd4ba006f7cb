-- Roles beyond admin and manager, the queues a manager works, the role of an
-- API key, who applied a campaign version, and the audit log.

-- +goose Up
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'marketer', 'manager', 'viewer'));
-- The inbox queues a manager works; empty = every queue.
ALTER TABLE users ADD COLUMN queues text[] NOT NULL DEFAULT '{}';

-- Keys made before roles existed were all-powerful: they stay admin.
ALTER TABLE api_keys ADD COLUMN role text NOT NULL DEFAULT 'admin'
    CHECK (role IN ('admin', 'marketer', 'manager', 'viewer'));

-- Who applied the version: "user:EMAIL", "key:NAME" or "cli" (a command run
-- on the server with database access); '' for versions from before.
ALTER TABLE campaign_versions ADD COLUMN applied_by text NOT NULL DEFAULT '';

-- Append-only: who did what, when, from where. It never holds message bodies;
-- subject names the object (campaign id, conversation id, subscriber id …).
-- subscriber_id lets erasure rewrite the rows about an erased subscriber.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         text NOT NULL,           -- user:EMAIL, key:NAME or cli
    role          text NOT NULL DEFAULT '',
    action        text NOT NULL,           -- campaign.apply, inbox.reply …
    subject       text NOT NULL DEFAULT '',
    subscriber_id bigint,                  -- no FK: the row outlives the subscriber
    detail        jsonb NOT NULL DEFAULT '{}',
    remote_addr   text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
CREATE INDEX audit_log_subscriber ON audit_log (subscriber_id) WHERE subscriber_id IS NOT NULL;

-- +goose Down
DROP TABLE audit_log;
ALTER TABLE campaign_versions DROP COLUMN applied_by;
ALTER TABLE api_keys DROP COLUMN role;
ALTER TABLE users DROP COLUMN queues;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'manager'));
