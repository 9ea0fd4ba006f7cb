-- Current consent as a table, and saved segments.
--
-- consent_current holds, per (subscriber, topic, channel or '*'), the newest
-- ledger event: what the consent_state view computes by a DISTINCT ON over
-- the whole ledger. An audience count over a million subscribers reads it
-- with one index walk or one hash instead of a subquery over the ledger per
-- subscriber. One rule (consent/current.go): a channel's consent is the newer
-- of its own event and the '*' event. The table keeps a channel's row never
-- older than the '*' row: a '*' event also overwrites the subscriber's channel
-- rows of the topic. So a channel's consent is its own row when it has one,
-- else the '*' row, else none.
--
-- It is kept in step by a statement trigger on consent_events, in the
-- transaction of the ledger write itself: every writer (consent's, and the
-- fixtures of tests that insert ledger rows directly) keeps it current, and
-- no writer can forget it. The ledger stays the proof; this is its index.

-- +goose Up
CREATE TABLE consent_current (
    subscriber_id bigint NOT NULL REFERENCES subscribers(id),
    topic         text NOT NULL,
    channel       text NOT NULL,               -- a channel, or '*' for all channels
    granted       boolean NOT NULL,
    source        text NOT NULL,               -- the source of the event that decided
    at            timestamptz NOT NULL,        -- its created_at
    event_id      bigint NOT NULL,             -- its id: orders a channel row against '*'
    PRIMARY KEY (subscriber_id, topic, channel)
);
-- Audience counts: the granted rows of a topic, by subscriber.
CREATE INDEX consent_current_granted ON consent_current (topic, subscriber_id) INCLUDE (channel, source) WHERE granted;
-- The few revoked rows (opt-outs), for "every channel of the list revoked".
CREATE INDEX consent_current_revoked ON consent_current (topic, channel, subscriber_id) WHERE NOT granted;

-- +goose StatementBegin
CREATE FUNCTION consent_current_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The newest event of each (subscriber, topic, channel) of the statement
    -- replaces an older row.
    INSERT INTO consent_current AS c (subscriber_id, topic, channel, granted, source, at, event_id)
    SELECT DISTINCT ON (n.subscriber_id, n.topic, n.channel)
           n.subscriber_id, n.topic, n.channel, n.granted, n.source, n.created_at, n.id
      FROM new_events n
     ORDER BY n.subscriber_id, n.topic, n.channel, n.id DESC
    ON CONFLICT (subscriber_id, topic, channel) DO UPDATE
       SET granted = EXCLUDED.granted, source = EXCLUDED.source, at = EXCLUDED.at, event_id = EXCLUDED.event_id
     WHERE c.event_id < EXCLUDED.event_id;
    -- A '*' event decides every channel of its topic until a newer channel
    -- event: channel rows older than it take its value.
    UPDATE consent_current c
       SET granted = w.granted, source = w.source, at = w.created_at, event_id = w.id
      FROM (SELECT DISTINCT ON (n.subscriber_id, n.topic) n.subscriber_id, n.topic, n.granted, n.source, n.created_at, n.id
              FROM new_events n WHERE n.channel = '*'
             ORDER BY n.subscriber_id, n.topic, n.id DESC) w
     WHERE c.subscriber_id = w.subscriber_id AND c.topic = w.topic AND c.channel <> '*' AND c.event_id < w.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER consent_current_apply AFTER INSERT ON consent_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION consent_current_apply();

-- Backfill from the ledger: the newest event per key, then the '*' rule.
INSERT INTO consent_current (subscriber_id, topic, channel, granted, source, at, event_id)
SELECT DISTINCT ON (subscriber_id, topic, channel) subscriber_id, topic, channel, granted, source, created_at, id
  FROM consent_events
 ORDER BY subscriber_id, topic, channel, id DESC;
UPDATE consent_current c
   SET granted = w.granted, source = w.source, at = w.at, event_id = w.event_id
  FROM consent_current w
 WHERE w.channel = '*' AND c.subscriber_id = w.subscriber_id AND c.topic = w.topic
   AND c.channel <> '*' AND c.event_id < w.event_id;

-- Saved segments: a segment id has immutable versions (one per content hash),
-- as campaigns do; definition is json.Marshal(campaigns.Segment).
CREATE TABLE segments (
    id              text PRIMARY KEY,
    current_version text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE segment_versions (
    segment_id   text NOT NULL REFERENCES segments(id),
    version      text NOT NULL,
    number       int  NOT NULL,
    definition   jsonb NOT NULL,
    source       text NOT NULL,
    source_path  text NOT NULL DEFAULT '',
    applied_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (segment_id, version),
    UNIQUE (segment_id, number)
);

-- Segment conditions on the opt-in source and on reachability.
CREATE INDEX channel_identities_reachable ON channel_identities (subscriber_id, channel) WHERE blocked_at IS NULL;

-- +goose Down
DROP INDEX channel_identities_reachable;
DROP TABLE segment_versions;
DROP TABLE segments;
DROP TRIGGER consent_current_apply ON consent_events;
DROP FUNCTION consent_current_apply();
DROP TABLE consent_current;
