-- +goose Up
-- Outgoing webhooks (package hooks): endpoints, the outbox of events and one
-- delivery per (event, endpoint). An event is written by nudge_hook_emit in the
-- transaction of the change it reports, so it commits with the change or not
-- at all; deliveries are worked oldest first per (endpoint, subscriber).
CREATE TABLE webhook_endpoints (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL,
    secret          text NOT NULL,
    events          text[] NOT NULL,
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    failing_since   timestamptz,          -- first failure since the last success
    disabled_at     timestamptz,
    disabled_reason text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE webhook_events (
    id            bigserial PRIMARY KEY,
    subscriber_id bigint NOT NULL,
    external_id   text NOT NULL DEFAULT '', -- the pseudonym once erased
    type          text NOT NULL,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX webhook_events_subscriber ON webhook_events (subscriber_id);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    subscriber_id   bigint NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        int NOT NULL DEFAULT 0,
    next_at         timestamptz,           -- NULL: due at once, whatever the clock
    last_attempt_at timestamptz,
    last_status     int,
    last_error      text NOT NULL DEFAULT '',
    latency_ms      int,
    delivered_at    timestamptz,
    replay_of       bigint,
    created_at      timestamptz NOT NULL
);
-- The head of each (endpoint, subscriber) line is its smallest pending id.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, subscriber_id, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, id DESC);

-- The one writer of the outbox: an event and its deliveries to every enabled
-- endpoint that asked for its type, nothing when none did. The notification
-- (sent at commit) wakes the dispatchers. p_at NULL is the database's now().
-- +goose StatementBegin
CREATE FUNCTION nudge_hook_emit(p_subscriber bigint, p_type text, p_data jsonb, p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ev bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled AND p_type = ANY(events)) THEN
        RETURN;
    END IF;
    -- A new delivery is due at once (next_at NULL), whatever the clock.
    INSERT INTO webhook_events (subscriber_id, external_id, type, data, created_at)
    SELECT p_subscriber, coalesce((SELECT external_id FROM subscribers WHERE id = p_subscriber), ''), p_type, p_data,
           coalesce(p_at, now())
    RETURNING id INTO ev;
    INSERT INTO webhook_deliveries (endpoint_id, event_id, subscriber_id, created_at)
    SELECT id, ev, p_subscriber, coalesce(p_at, now()) FROM webhook_endpoints WHERE enabled AND p_type = ANY(events);
    PERFORM pg_notify('nudge_hooks', '');
END $$;
-- +goose StatementEnd

-- Hand-offs: a conversation row is inserted only by nudge_inbox_open (both
-- hand-off paths) and leaves 'open' only by the inbox's resolve.
-- +goose StatementBegin
CREATE FUNCTION nudge_hook_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM nudge_hook_emit(NEW.subscriber_id, 'handoff.opened',
            jsonb_build_object('conversation_id', NEW.id, 'channel', NEW.channel, 'queue', NEW.queue,
                               'reason', NEW.reason), NEW.opened_at);
    ELSE
        PERFORM nudge_hook_emit(NEW.subscriber_id, 'handoff.resolved',
            jsonb_build_object('conversation_id', NEW.id, 'channel', NEW.channel, 'queue', NEW.queue,
                               'resolution', NEW.resolution), coalesce(NEW.resolved_at, now()));
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER conversations_opened_hook AFTER INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION nudge_hook_conversation();
CREATE TRIGGER conversations_resolved_hook AFTER UPDATE OF state ON conversations
    FOR EACH ROW WHEN (OLD.state = 'open' AND NEW.state = 'resolved') EXECUTE FUNCTION nudge_hook_conversation();

-- A message fails in several set-based statements of the worker (a claim's
-- outcomes, a retry, a fallback rung, a provider's status webhook); the row's
-- change to 'failed' is the one place they all meet. The WHEN clauses keep
-- the function off every other row.
-- +goose StatementBegin
CREATE FUNCTION nudge_hook_message_failed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nudge_hook_emit(NEW.subscriber_id, 'message.failed',
        jsonb_build_object('message_id', NEW.id, 'campaign_id', NEW.campaign_id, 'step_id', NEW.step_id,
                           'run_id', NEW.run_id, 'channel', NEW.channel, 'attempt', NEW.attempt,
                           'error_kind', coalesce(NEW.error_kind, ''), 'error_code', coalesce(NEW.error_code, '')),
        coalesce(NEW.failed_at, now()));
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER messages_failed_hook AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.status = 'failed') EXECUTE FUNCTION nudge_hook_message_failed();
CREATE TRIGGER messages_failed_hook_update AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (NEW.status = 'failed' AND OLD.status <> 'failed') EXECUTE FUNCTION nudge_hook_message_failed();

-- +goose Down
DROP TRIGGER messages_failed_hook_update ON messages;
DROP TRIGGER messages_failed_hook ON messages;
DROP FUNCTION nudge_hook_message_failed();
DROP TRIGGER conversations_resolved_hook ON conversations;
DROP TRIGGER conversations_opened_hook ON conversations;
DROP FUNCTION nudge_hook_conversation();
DROP FUNCTION nudge_hook_emit(bigint, text, jsonb, timestamptz);
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
