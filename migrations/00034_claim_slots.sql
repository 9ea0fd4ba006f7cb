-- Claims spread over slots (issue 19 item 7, docs/scaling.md "the claim's hot
-- spot"). Every claim used to start at the oldest due run, so N claimers
-- met at the same index entries: each skipped the rows the others held, and
-- a claim that reached a run another had just finished locked its newest
-- version before the recheck dropped it (1.8 row-lock records per run sent
-- instead of 1). The work index now leads with a slot (id % 16): a claim
-- starts at a slot the caller picks at random and moves on to the next only
-- when that one has fewer due runs than it asks for, so claimers mostly work
-- different slots, and each slot is served oldest first.
--
-- Whether anything is due, and how much, ask every slot (= ANY of the 16),
-- which the index answers with one probe a slot.

-- +goose Up
CREATE INDEX flow_runs_work_slot ON flow_runs ((id % 16), next_at, id) WHERE state IN ('active', 'waiting');
DROP INDEX flow_runs_work;
DROP FUNCTION nudge_claim_runs(timestamptz, int);

-- +goose StatementBegin
CREATE FUNCTION nudge_claim_runs(due_by timestamptz, n int, first_slot int) RETURNS SETOF flow_runs
LANGUAGE plpgsql VOLATILE
SET enable_sort = off
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
DECLARE
    got int := 0;
    k int;
    more int;
BEGIN
    FOR k IN 0..15 LOOP
        RETURN QUERY
        SELECT * FROM flow_runs
         WHERE state IN ('active', 'waiting') AND next_at <= due_by
           AND id % 16 = ((first_slot + k) % 16)::bigint
         ORDER BY next_at, id
         LIMIT n - got
           FOR NO KEY UPDATE SKIP LOCKED;
        GET DIAGNOSTICS more = ROW_COUNT;
        got := got + more;
        EXIT WHEN got >= n;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION nudge_claim_runs(timestamptz, int, int);
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
CREATE INDEX flow_runs_work ON flow_runs (next_at, id) WHERE state IN ('active', 'waiting');
DROP INDEX flow_runs_work_slot;
