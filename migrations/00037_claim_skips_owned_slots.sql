-- A claim passes over a slot another claim owns without reading it (issue
-- 19 item 7). With 00035 a claim counted a slot's due runs (up to 32 index
-- entries, every one a run the owner holds) before it asked for the slot's
-- lock and found it owned; at the end of a blast, when every due run is
-- some claim's, an idle claimer read 16 × 32 entries to find nothing. It
-- now asks first whether the slot is owned: a session-level shared try,
-- released at once, succeeds unless a claim holds the slot exclusively,
-- and costs no read. The rest is 00035's: count, then own a backlog or
-- share a sparse slot with transaction-scoped locks (the try there still
-- decides; the probe only saves the count).

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
    backlog int := 32;
    due int;
    got int := 0;
    k int;
    s int;
    more int;
BEGIN
    FOR k IN 0..15 LOOP
        s := (first_slot + k) % 16;
        -- Owned by another claim: pass over it unread.
        CONTINUE WHEN NOT pg_try_advisory_lock_shared(class, s);
        PERFORM pg_advisory_unlock_shared(class, s);
        SELECT count(*) INTO due FROM (SELECT 1 FROM flow_runs
                                        WHERE state IN ('active', 'waiting') AND next_at <= due_by
                                          AND id % 16 = s::bigint
                                        LIMIT backlog) d;
        CONTINUE WHEN due = 0;
        IF due >= backlog THEN
            -- Own it, or pass over it: another claim owns it, or claims
            -- that found it sparse still share it and end soon.
            CONTINUE WHEN NOT pg_try_advisory_xact_lock(class, s);
        ELSE
            -- Share it, unless another claim owns it.
            CONTINUE WHEN NOT pg_try_advisory_xact_lock_shared(class, s);
        END IF;
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
    class int := hashtext('nudge_claim_slot');
    backlog int := 32;
    due int;
    got int := 0;
    k int;
    s int;
    more int;
BEGIN
    FOR k IN 0..15 LOOP
        s := (first_slot + k) % 16;
        SELECT count(*) INTO due FROM (SELECT 1 FROM flow_runs
                                        WHERE state IN ('active', 'waiting') AND next_at <= due_by
                                          AND id % 16 = s::bigint
                                        LIMIT backlog) d;
        CONTINUE WHEN due = 0;
        IF due >= backlog THEN
            -- Own it, or pass over it: another claim owns it, or claims
            -- that found it sparse still share it and end soon.
            CONTINUE WHEN NOT pg_try_advisory_xact_lock(class, s);
        ELSE
            -- Share it, unless another claim owns it.
            CONTINUE WHEN NOT pg_try_advisory_xact_lock_shared(class, s);
        END IF;
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
