-- A slot with a backlog has one claim at a time (issue 19 item 7,
-- docs/scaling.md "the claim's hot spot"). With 00034 two claims that
-- started at the same slot still met there: the second walked every run
-- the first held (SKIP LOCKED skips a row only after reading it and asking
-- whether its locker still runs), and the more claimers, the more such runs
-- each claim walked. A claim now takes a slot's transaction-scoped advisory
-- lock (two-int key: the class hashtext('nudge_claim_slot'), the slot)
-- before it reads the slot: exclusive when the slot has a backlog (32 due
-- runs or more; the claim owns the slot until it commits, and passes over
-- it when another claim holds the lock in either mode), shared otherwise
-- (claims share sparse slots and skip each other's runs there as before,
-- and pass over slots another claim owns). Taking the shared lock first
-- and owning a backlog after let two claims that arrived together share a
-- backlog slot for their whole transactions, and the claims after them
-- join in. Owning every slot a claim reads
-- would keep the other claimers off all of them while replies make runs
-- due a few at a time; sharing every slot brings the walk back at a blast.

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
