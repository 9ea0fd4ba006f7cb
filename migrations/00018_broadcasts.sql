-- One-off broadcasts: a campaign sent once to its audience at a chosen time
-- (or at that wall time in each subscriber's zone). The scheduler leader
-- creates their runs in batches (trigger_key 'broadcast:<id>'), one zone at
-- a time, keeping its progress in broadcast_zones so a restart resumes
-- where it stopped.

-- +goose Up
CREATE TABLE broadcasts (
    id               bigserial PRIMARY KEY,
    campaign_id      text NOT NULL REFERENCES campaigns(id),
    campaign_version text NOT NULL,
    send_at          timestamptz NOT NULL,     -- the instant; local: the wall time's fields in UTC
    local_time       boolean NOT NULL DEFAULT false,
    state            text NOT NULL DEFAULT 'scheduled'
                     CHECK (state IN ('scheduled', 'running', 'paused', 'done', 'cancelled')),
    runs             int NOT NULL DEFAULT 0,   -- runs created so far (holdout included)
    idempotency_key  text UNIQUE,              -- POST /v1/broadcasts Idempotency-Key
    request_hash     text NOT NULL DEFAULT '',
    created_by       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX broadcasts_pending ON broadcasts (send_at) WHERE state IN ('scheduled', 'running');

-- Progress per zone ('' for a broadcast at one instant): the highest
-- subscriber id whose run exists, and whether the zone is finished.
CREATE TABLE broadcast_zones (
    broadcast_id bigint NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    time_zone    text NOT NULL,
    due_at       timestamptz NOT NULL,
    last_id      bigint NOT NULL DEFAULT 0,
    runs         int NOT NULL DEFAULT 0,
    done         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (broadcast_id, time_zone)
);

-- +goose Down
DROP TABLE broadcast_zones;
DROP TABLE broadcasts;
