-- One claimer per slot at a time (issue 19 item 7, docs/scaling.md "the
-- claim's hot spot"). With 00034 two claims that started at the same slot
-- still met there: the second walked every run the first held (SKIP
-- LOCKED skips a row only after reading it and asking whether its locker
-- is still running), and the more claimers, the more such runs each claim
-- walked. A claim now takes a slot's transaction-scoped advisory lock
-- (two-int key: the class hashtext('nudge_claim_slot'), the slot) before
-- it reads the slot, and passes over slots another open claim holds, so
-- claims never walk each other's runs. A claim holds the slots it read
-- until it commits; a slot it found empty is held too, which only defers a
-- run that becomes due there meanwhile to the next claim.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_claim_runs(due_by timestamptz, n int, first_slot int) RETURNS SETOF flow_runs
LANGUAGE plpgsql VOLATILE
SET enable_sort = off
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
DECLARE
    class int := hashtext('nudge_claim_slot');
    got int := 0;
    k int;
    s int;
    more int;
BEGIN
    FOR k IN 0..15 LOOP
        s := (first_slot + k) % 16;
        CONTINUE WHEN NOT pg_try_advisory_xact_lock(class, s);
        RETURN QUERY
        SELECT * FROM flow_runs
         WHERE state IN ('active', 'waiting') AND next_at <= due_by
           AND id % 16 = s::bigint
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_claim_runs(due_by timestamptz, n int, first_slot int) RETURNS SETOF flow_runs
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
