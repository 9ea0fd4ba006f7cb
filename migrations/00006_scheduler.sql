-- Scheduler state: the event cursor, the schedule occurrences already fired,
-- and the idempotency records of the transactional trigger API.

-- +goose Up

-- One row per cursor (today only 'events'): the highest subscriber_events.id
-- whose triggers were evaluated. Advanced in the same transaction as the runs
-- it created.
CREATE TABLE scheduler_cursors (
    name        text PRIMARY KEY,
    last_id     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A schedule occurrence (campaign, zone, local wall time) fired once: the row
-- commits with the runs it created, so a restart or a second leader skips
-- the audience query instead of re-running it (the unique key of flow_runs
-- would keep it harmless anyway).
CREATE TABLE scheduler_occurrences (
    campaign_id  text NOT NULL,
    time_zone    text NOT NULL,              -- '' when the trigger names one fixed zone
    wall_time    text NOT NULL,              -- 2026-11-27T18:00 (the trigger_key suffix)
    due_at       timestamptz NOT NULL,       -- the instant the occurrence was due
    fired_at     timestamptz NOT NULL,       -- scheduler clock when it fired
    runs         int NOT NULL,               -- runs created (holdout included)
    PRIMARY KEY (campaign_id, time_zone, wall_time)
);

-- Idempotency-Key of POST /v1/campaigns/{id}/trigger, honoured for 24h.
CREATE TABLE api_idempotency (
    key           text PRIMARY KEY,
    campaign_id   text NOT NULL,
    request_hash  text NOT NULL,             -- sha256 of campaign id + canonical body
    status        int NOT NULL DEFAULT 0,
    response      text,                      -- the JSON body exactly as first sent
    created_at    timestamptz NOT NULL
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);

-- Per-zone audiences of `timezone: subscriber` schedules and the distinct-zone scan.
CREATE INDEX subscribers_time_zone ON subscribers (time_zone) WHERE erased_at IS NULL;

-- +goose Down
DROP INDEX subscribers_time_zone;
DROP TABLE api_idempotency;
DROP TABLE scheduler_occurrences;
DROP TABLE scheduler_cursors;
