-- Conversations managers work on, the customer replies with their
-- classification, and what managers wrote.

-- +goose Up
CREATE TABLE conversations (
    id                bigserial PRIMARY KEY,
    subscriber_id     bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    channel           text NOT NULL,
    queue             text NOT NULL DEFAULT 'general',
    state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    reason            text NOT NULL,      -- handoff | negative_reply | unmatched | late_reply
    note              text NOT NULL DEFAULT '',
    run_ids           bigint[] NOT NULL DEFAULT '{}', -- flow runs paused by hand-offs into it
    assignee_id       bigint REFERENCES users(id) ON DELETE SET NULL,
    opened_at         timestamptz NOT NULL,
    last_customer_at  timestamptz,
    first_response_at timestamptz,
    sla_breached_at   timestamptz,
    resolved_at       timestamptz,
    resolved_by       bigint REFERENCES users(id) ON DELETE SET NULL,
    resolution        text NOT NULL DEFAULT '' -- resume | end
);
-- At most one open conversation per subscriber: new hand-offs and replies join it.
CREATE UNIQUE INDEX conversations_one_open ON conversations (subscriber_id) WHERE state = 'open';
CREATE INDEX conversations_queue ON conversations (state, queue, opened_at);

CREATE TABLE conversation_items (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('customer', 'manager', 'note', 'system')),
    author_id       bigint REFERENCES users(id) ON DELETE SET NULL,
    text            text NOT NULL,
    message_id      bigint REFERENCES messages(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX conversation_items_conv ON conversation_items (conversation_id, id);

-- Every customer text or button press, with what it was classified as and
-- where it went (the rule that decided is kept for audit).
CREATE TABLE replies (
    id                bigserial PRIMARY KEY,
    channel           text NOT NULL,
    provider_event_id text NOT NULL,
    subscriber_id     bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    run_id            bigint REFERENCES flow_runs(id) ON DELETE SET NULL,
    campaign_id       text NOT NULL DEFAULT '',
    campaign_version  text NOT NULL DEFAULT '',
    step_id           text NOT NULL DEFAULT '',
    answered_message_id bigint REFERENCES messages(id) ON DELETE SET NULL,
    text              text NOT NULL DEFAULT '',
    payload           text NOT NULL DEFAULT '',
    sentiment         text NOT NULL,
    rule              text NOT NULL,
    detail            text NOT NULL DEFAULT '',
    outcome           text NOT NULL,      -- branch | on_other | inbox | late
    goto_step         text NOT NULL DEFAULT '',
    reaction_ms       bigint,             -- answered message sent → reply
    conversation_id   bigint REFERENCES conversations(id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL,
    UNIQUE (channel, provider_event_id)
);
CREATE INDEX replies_campaign ON replies (campaign_id, campaign_version, step_id);

-- +goose Down
DROP TABLE replies;
DROP TABLE conversation_items;
DROP TABLE conversations;
