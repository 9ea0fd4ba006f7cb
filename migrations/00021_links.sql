-- Tracked links (package links): every http(s) link of a composed campaign
-- message becomes a row here, keyed by its signed code (/l/<code>). The row
-- keeps the message's idempotency key (the message row is written later, or
-- by another transaction: no foreign key), who it was for and where it goes,
-- and the clicks: the first, the last and how many, with link-preview bots
-- counted apart.
--
-- link_secrets holds the HMAC key generated on first use when
-- NUDGE_LINK_SECRET is not set, so every process of an install signs alike.

-- +goose Up
CREATE TABLE links (
    code             text PRIMARY KEY,
    message_key      text NOT NULL,
    subscriber_id    bigint REFERENCES subscribers(id) ON DELETE SET NULL,
    campaign_id      text NOT NULL,
    campaign_version text NOT NULL,
    step_id          text NOT NULL,
    channel          text NOT NULL,
    url              text NOT NULL, -- as the template wrote it; '' once the subscriber is erased
    target           text NOT NULL, -- url with the UTM parameters and nudge_click; '' once erased
    created_at       timestamptz NOT NULL,
    first_click_at   timestamptz,
    last_click_at    timestamptz,
    clicks           int NOT NULL DEFAULT 0,
    bot_clicks       int NOT NULL DEFAULT 0
);
CREATE INDEX links_message ON links (message_key);
CREATE INDEX links_campaign ON links (campaign_id, campaign_version) WHERE clicks > 0;
CREATE INDEX links_subscriber ON links (subscriber_id);

CREATE TABLE link_secrets (
    id     int PRIMARY KEY CHECK (id = 1),
    secret bytea NOT NULL
);

-- +goose Down
DROP TABLE link_secrets;
DROP TABLE links;
