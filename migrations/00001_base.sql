-- Base schema shared by every area: subscribers, their channel identities,
-- their events, and the append-only consent ledger with its current-state view.

-- +goose Up
CREATE TABLE subscribers (
    id           bigserial PRIMARY KEY,
    external_id  text UNIQUE,                 -- the shop's customer id; NULL for anonymous
    name         text NOT NULL DEFAULT '',
    locale       text NOT NULL DEFAULT 'ru',
    time_zone    text NOT NULL DEFAULT 'Europe/Moscow',
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    erased_at    timestamptz,                 -- PII removed; row kept for consent proof
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- channel: telegram | viber | whatsapp | messenger | vk | sms | email | sandbox
-- address: chat id, Viber user id, E.164 phone, PSID, VK peer id, email.
CREATE TABLE channel_identities (
    id             bigserial PRIMARY KEY,
    subscriber_id  bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    channel        text NOT NULL,
    address        text NOT NULL,
    last_inbound_at timestamptz,              -- opens 24h windows (WhatsApp, Messenger)
    blocked_at     timestamptz,               -- the user blocked the bot
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, address)
);
CREATE INDEX channel_identities_subscriber ON channel_identities (subscriber_id);

CREATE TABLE subscriber_events (
    id             bigserial PRIMARY KEY,
    subscriber_id  bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    name           text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    idempotency_key text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscriber_id, idempotency_key)
);
CREATE INDEX subscriber_events_name ON subscriber_events (subscriber_id, name, occurred_at DESC);

-- Append-only: rows are never updated or deleted (erasure pseudonymises the
-- proof's personal fields but keeps the row).
CREATE TABLE consent_events (
    id             bigserial PRIMARY KEY,
    subscriber_id  bigint NOT NULL REFERENCES subscribers(id),
    channel        text NOT NULL,             -- a channel, or '*' for all channels
    topic          text NOT NULL CHECK (topic IN ('service', 'marketing')),
    granted        boolean NOT NULL,
    source         text NOT NULL,             -- widget | jwt_link | dialog | import | api
    proof          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consent_events_current ON consent_events (subscriber_id, channel, topic, id DESC);

-- Current consent per (subscriber, channel, topic): the newest event wins
-- (ids are assigned at insert; the later commit of two racing writers is read
-- as the latest by id order within the lock taken by the writer).
CREATE VIEW consent_state AS
SELECT DISTINCT ON (subscriber_id, channel, topic)
       subscriber_id, channel, topic, granted, source, created_at
  FROM consent_events
 ORDER BY subscriber_id, channel, topic, id DESC;


-- Campaigns: a campaign id has immutable versions (one per content hash);
-- definition is json.Marshal(campaigns.Definition), source the YAML as applied.
CREATE TABLE campaigns (
    id              text PRIMARY KEY,
    current_version text,
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE campaign_versions (
    campaign_id  text NOT NULL REFERENCES campaigns(id),
    version      text NOT NULL,               -- content hash (hex prefix)
    number       int  NOT NULL,               -- 1, 2, 3 … per campaign
    definition   jsonb NOT NULL,
    source       text NOT NULL,
    source_path  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, version),
    UNIQUE (campaign_id, number)
);

-- A flow run: one subscriber going through one campaign version. trigger_key
-- makes creation idempotent (schedule occurrence, event id, API idempotency key).
CREATE TABLE flow_runs (
    id               bigserial PRIMARY KEY,
    campaign_id      text NOT NULL,
    campaign_version text NOT NULL,
    subscriber_id    bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    trigger_key      text NOT NULL,
    state            text NOT NULL DEFAULT 'active'
                     CHECK (state IN ('active', 'waiting', 'paused', 'done', 'cancelled', 'failed')),
    step_id          text NOT NULL DEFAULT '',
    step_seq         int  NOT NULL DEFAULT 0,  -- bumps on every transition; part of task ids
    next_at          timestamptz,              -- when the run is due (NULL = waiting on an event)
    holdout          boolean NOT NULL DEFAULT false,
    context          jsonb NOT NULL DEFAULT '{}'::jsonb, -- trigger payload, reply, fallback state
    started_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    UNIQUE (campaign_id, subscriber_id, trigger_key),
    FOREIGN KEY (campaign_id, campaign_version) REFERENCES campaign_versions (campaign_id, version)
);
CREATE INDEX flow_runs_due ON flow_runs (next_at) WHERE state = 'active';
CREATE INDEX flow_runs_subscriber ON flow_runs (subscriber_id, state);

-- One row per outbound message intent. idempotency_key is deterministic
-- (run, step, channel attempt): a retry, a crash or a duplicate task can never
-- create a second row, so never a second send.
CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    subscriber_id   bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    campaign_id     text NOT NULL DEFAULT '',  -- '' for manager replies
    campaign_version text NOT NULL DEFAULT '',
    run_id          bigint REFERENCES flow_runs(id) ON DELETE SET NULL,
    step_id         text NOT NULL DEFAULT '',
    topic           text NOT NULL CHECK (topic IN ('service', 'marketing')),
    channel         text NOT NULL,
    account         text NOT NULL DEFAULT '',
    address         text NOT NULL DEFAULT '',
    attempt         int  NOT NULL DEFAULT 0,   -- 0 = first channel, n = n-th fallback rung
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed', 'skipped')),
    provider_id     text,
    content         jsonb NOT NULL DEFAULT '{}'::jsonb, -- rendered text, buttons, image
    error_kind      text,
    error_code      text,
    error_message   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    delivered_at    timestamptz,
    read_at         timestamptz,
    failed_at       timestamptz
);
CREATE INDEX messages_cap ON messages (subscriber_id, topic, sent_at);
CREATE INDEX messages_provider ON messages (channel, provider_id);
CREATE INDEX messages_run ON messages (run_id);

-- +goose Down
DROP TABLE messages;
DROP TABLE flow_runs;
DROP TABLE campaign_versions;
DROP TABLE campaigns;
DROP VIEW consent_state;
DROP TABLE consent_events;
DROP TABLE subscriber_events;
DROP TABLE channel_identities;
DROP TABLE subscribers;
