-- Subscribers area: API keys for the shop's backend.
--
-- No extra indexes on subscribers or channel_identities: list pages walk the
-- primary key with the filters applied (keyset by id), the base schema's
-- channel_identities (subscriber_id) index serves the "has channel" filter,
-- and every further index is paid on each row of a million-row import.

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

-- +goose Down
DROP TABLE api_keys;
