-- Subscribers area: API keys for the shop's backend, and the indexes the
-- subscriber list filters and the event feed need.

-- +goose Up
-- An API key is shown once at creation; only its SHA-256 is stored. prefix
-- (the first characters of the key, not secret) finds the row; the hash is
-- then compared in constant time.
CREATE TABLE api_keys (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    prefix       text NOT NULL UNIQUE,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);
-- A name names one live key (a revoked key's name may be reused).
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;

-- List filters: locale / time zone equality with keyset order by id.
CREATE INDEX subscribers_locale ON subscribers (locale, id);
CREATE INDEX subscribers_time_zone ON subscribers (time_zone, id);
CREATE INDEX subscribers_created ON subscribers (created_at);
-- "has channel" filter.
CREATE INDEX channel_identities_channel ON channel_identities (channel, subscriber_id);

-- +goose Down
DROP INDEX channel_identities_channel;
DROP INDEX subscribers_created;
DROP INDEX subscribers_time_zone;
DROP INDEX subscribers_locale;
DROP TABLE api_keys;
