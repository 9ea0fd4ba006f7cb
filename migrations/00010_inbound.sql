-- Every inbound provider event (message, button press, start, status) is
-- stored before the webhook answers 2xx. (channel, account, provider_event_id)
-- is unique, so a redelivered event is recognised and has no second effect.

-- +goose Up
CREATE TABLE inbound_events (
    id                bigserial PRIMARY KEY,
    channel           text NOT NULL,
    account           text NOT NULL DEFAULT '',
    provider_event_id text NOT NULL,
    type              text NOT NULL,
    sender            text NOT NULL DEFAULT '',
    event             jsonb NOT NULL,              -- the normalised channels.Event
    received_at       timestamptz NOT NULL DEFAULT now(),
    attempts          int NOT NULL DEFAULT 0,
    claimed_until     timestamptz,                 -- a processor is working on it
    processed_at      timestamptz,
    result            text NOT NULL DEFAULT '',    -- what processing did, or the last error
    UNIQUE (channel, account, provider_event_id)
);
CREATE INDEX inbound_events_pending ON inbound_events (id) WHERE processed_at IS NULL;

-- +goose Down
DROP TABLE inbound_events;
