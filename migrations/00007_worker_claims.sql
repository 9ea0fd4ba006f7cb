-- Workers claim due runs themselves (SELECT … FOR NO KEY UPDATE SKIP LOCKED inside
-- the transaction that works them) instead of the dispatcher leasing each run
-- with an UPDATE first: the lease columns and their indexes go, and one
-- partial index serves the claim. Fewer indexes also make every transition
-- cheaper. messages.tries counts transient send failures of a pending message
-- (the run is retried with backoff until maxRetry, then the message fails).

-- +goose Up
DROP INDEX flow_runs_dispatched;
DROP INDEX flow_runs_undispatched;
DROP INDEX flow_runs_due;
ALTER TABLE flow_runs DROP COLUMN dispatched_at, DROP COLUMN dispatch_key;
CREATE INDEX flow_runs_work ON flow_runs (next_at, id) WHERE state IN ('active', 'waiting');
ALTER TABLE messages ADD COLUMN tries int NOT NULL DEFAULT 0;

-- messages is the hot append log of the engine (one row per send): its two
-- foreign keys cost a trigger and a row lock per inserted row, about half
-- the insert. Their ids come from the run being worked, which references
-- its subscriber; nothing deletes runs or subscribers (erasure pseudonymises).
ALTER TABLE messages DROP CONSTRAINT messages_subscriber_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_run_id_fkey;

-- Runs are looked up by subscriber only while they live (waiting for a
-- reply, paused by a hand-off): finished runs leave the index, and the last
-- move of every run writes one index entry less.
DROP INDEX flow_runs_subscriber;
CREATE INDEX flow_runs_subscriber ON flow_runs (subscriber_id, state)
    WHERE state IN ('active', 'waiting', 'paused');

-- The sandbox's provider id is "sbx-" + the idempotency key, which is unique
-- already, and nothing looks its sends up by address: two indexes less on
-- the demo and benchmark channel.
ALTER TABLE sandbox_sends DROP CONSTRAINT sandbox_sends_provider_id_key;
DROP INDEX sandbox_sends_address;

-- A claim: the oldest due runs not claimed by another worker, locked until
-- the claiming transaction ends. NO KEY UPDATE, as the transitions need: a
-- claim must not block the foreign-key checks of rows that reference the run
-- (a reply stored while its run's next step is being sent).
--
-- Both functions are planned with sequential scans (and the claim with sorts
-- and bitmap scans) off, so their plans never depend on statistics: right
-- after a blast's runs and messages are inserted the statistics still say
-- both tables are empty, and the planner sorted every due run (60 ms per
-- claim at 100k) and scanned messages for each lookup of earlier tries.
-- +goose StatementBegin
CREATE FUNCTION nudge_claim_runs(due_by timestamptz, n int) RETURNS SETOF flow_runs
LANGUAGE plpgsql VOLATILE
SET enable_sort = off
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY
    SELECT * FROM flow_runs
     WHERE state IN ('active', 'waiting') AND next_at <= due_by
     ORDER BY next_at, id
     LIMIT n
       FOR NO KEY UPDATE SKIP LOCKED;
END
$$;
-- +goose StatementEnd

-- The messages already recorded under keys (earlier tries of a claim's runs).
-- +goose StatementBegin
CREATE FUNCTION nudge_messages_by_key(keys text[]) RETURNS SETOF messages
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
AS $$
BEGIN
    RETURN QUERY SELECT * FROM messages WHERE idempotency_key = ANY(keys);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION nudge_messages_by_key(text[]);
DROP FUNCTION nudge_claim_runs(timestamptz, int);
CREATE INDEX sandbox_sends_address ON sandbox_sends (address, created_at);
ALTER TABLE sandbox_sends ADD CONSTRAINT sandbox_sends_provider_id_key UNIQUE (provider_id);
DROP INDEX flow_runs_subscriber;
CREATE INDEX flow_runs_subscriber ON flow_runs (subscriber_id, state);
ALTER TABLE messages ADD CONSTRAINT messages_run_id_fkey
    FOREIGN KEY (run_id) REFERENCES flow_runs(id) ON DELETE SET NULL;
ALTER TABLE messages ADD CONSTRAINT messages_subscriber_id_fkey
    FOREIGN KEY (subscriber_id) REFERENCES subscribers(id) ON DELETE CASCADE;
ALTER TABLE messages DROP COLUMN tries;
DROP INDEX flow_runs_work;
ALTER TABLE flow_runs ADD COLUMN dispatch_key text, ADD COLUMN dispatched_at timestamptz;
CREATE INDEX flow_runs_due ON flow_runs (next_at) WHERE state = 'active';
CREATE INDEX flow_runs_undispatched ON flow_runs (next_at, id)
    WHERE state IN ('active', 'waiting') AND dispatched_at IS NULL;
CREATE INDEX flow_runs_dispatched ON flow_runs (dispatched_at) WHERE dispatched_at IS NOT NULL;
