-- One index fewer for each identity an import writes (issue 18).
--
-- channel_identities_reachable (00019) served segment conditions on
-- reachability. Since 00028 those read subscriber_rollup.reachable; the one
-- query left that asks channel_identities for unblocked identities
-- (scheduler's audience with per-channel accounts) also filters on account,
-- which the partial index does not hold, so it reads the heap either way
-- and channel_identities_subscriber finds the rows as well. Each identity
-- inserted paid for the index: 900,000 identities in batches of 150,000,
-- backend CPU 11.4–13.0 s with it, 9.8–10.8 s without (three alternating
-- pairs, load 3–4).

-- +goose Up
DROP INDEX channel_identities_reachable;

-- +goose Down
CREATE INDEX channel_identities_reachable ON channel_identities (subscriber_id, channel) WHERE blocked_at IS NULL;
