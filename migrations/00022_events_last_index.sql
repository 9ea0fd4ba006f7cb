-- A segment's has_event with `last` (scheduler.hasEventSQL) takes, per
-- subscriber, the newest event of one name in a window: a window function
-- over every event of that name. This index hands it those events already
-- in (subscriber, newest first) order with their payload, so the count reads
-- the index alone and sorts nothing (at a million subscribers, 1.6M events:
-- no sort of 1.6M rows). The (subscriber_id, name, occurred_at) index stays:
-- a subscriber's own events (export, probes per member) lead with the id.

-- +goose Up
CREATE INDEX subscriber_events_last ON subscriber_events (name, subscriber_id, occurred_at DESC, id DESC) INCLUDE (payload);

-- +goose Down
DROP INDEX subscriber_events_last;
