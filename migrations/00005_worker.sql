-- Flow runtime: dispatch leases on flow runs, fallback timers on messages,
-- hand-offs to managers, and the sandbox channel's record of what it "sent".

-- +goose Up
-- dispatch_key is the Asynq task id of the batch a due run was put in;
-- dispatched_at (database time) leases the run to that task. A lapsed lease
-- is re-enqueued under the same key: a conflict while the task still exists
-- in Redis, a fresh task after a flush. Both are cleared on every transition.
ALTER TABLE flow_runs
    ADD COLUMN dispatch_key  text,
    ADD COLUMN dispatched_at timestamptz;
CREATE INDEX flow_runs_undispatched ON flow_runs (next_at, id)
    WHERE state IN ('active', 'waiting') AND dispatched_at IS NULL;
CREATE INDEX flow_runs_dispatched ON flow_runs (dispatched_at) WHERE dispatched_at IS NOT NULL;
ALTER TABLE flow_runs SET (fillfactor = 80);

-- fallback_at: when to check whether this message reached the status its
-- fallback rung requires (NULL = no check pending). reason: why a message was
-- skipped or deferred (policy reason, holdout).
ALTER TABLE messages
    ADD COLUMN fallback_at            timestamptz,
    ADD COLUMN fallback_dispatched_at timestamptz,
    ADD COLUMN reason                 text;
CREATE INDEX messages_fallback_due ON messages (fallback_at) WHERE fallback_at IS NOT NULL;

-- A run handed to a manager queue waits (state paused) until resolved.
CREATE TABLE handoffs (
    id            bigserial PRIMARY KEY,
    run_id        bigint REFERENCES flow_runs(id) ON DELETE SET NULL,
    subscriber_id bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    campaign_id   text NOT NULL DEFAULT '',
    step_id       text NOT NULL DEFAULT '',
    step_seq      int  NOT NULL DEFAULT 0,
    queue         text NOT NULL,
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    UNIQUE (run_id, step_seq)
);
CREATE INDEX handoffs_open ON handoffs (queue, created_at) WHERE resolved_at IS NULL;
CREATE INDEX handoffs_subscriber ON handoffs (subscriber_id) WHERE resolved_at IS NULL;

-- The sandbox channel behaves like a provider that dedupes on a client key
-- (VK random_id): a second send with the same key returns the first result.
CREATE TABLE sandbox_sends (
    id              bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    channel         text NOT NULL DEFAULT 'sandbox',
    account         text NOT NULL DEFAULT '',
    address         text NOT NULL,
    text            text NOT NULL DEFAULT '',
    content         jsonb NOT NULL DEFAULT '{}'::jsonb,
    provider_id     text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sandbox_sends_address ON sandbox_sends (address, created_at);

-- +goose Down
DROP TABLE sandbox_sends;
DROP TABLE handoffs;
DROP INDEX messages_fallback_due;
ALTER TABLE messages DROP COLUMN reason, DROP COLUMN fallback_dispatched_at, DROP COLUMN fallback_at;
DROP INDEX flow_runs_dispatched;
DROP INDEX flow_runs_undispatched;
ALTER TABLE flow_runs RESET (fillfactor);
ALTER TABLE flow_runs DROP COLUMN dispatched_at, DROP COLUMN dispatch_key;
