-- Consent: opt-in codes carried by deep links, and single-use JWT ids.
-- The ledger itself (consent_events, consent_state) is in 00001_base.sql.

-- +goose Up
-- An opt-in code is the short opaque value a deep link carries
-- (Telegram start payload, Viber context, Messenger/VK ref, WhatsApp text).
-- Widget codes are anonymous (subscriber_id NULL) and may be used by many
-- people; JWT codes are bound to one customer and usable once per channel.
CREATE TABLE consent_codes (
    code          text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,64}$'),
    subscriber_id bigint REFERENCES subscribers(id) ON DELETE CASCADE,
    topics        text[] NOT NULL
                  CHECK (cardinality(topics) > 0 AND topics <@ ARRAY['service', 'marketing']),
    source        text NOT NULL CHECK (source IN ('widget', 'jwt_link', 'api')),
    attribution   jsonb NOT NULL DEFAULT '{}'::jsonb, -- utm_*, ref, landing page
    text_version  text NOT NULL DEFAULT '',           -- consent text shown with the link
    jti           text,                               -- the JWT that minted it
    expires_at    timestamptz NOT NULL,
    use_count     int NOT NULL DEFAULT 0,
    used_channels text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX consent_codes_subscriber ON consent_codes (subscriber_id);
CREATE INDEX consent_codes_expires ON consent_codes (expires_at);

-- Every accepted JWT id, stored in the transaction that mints its code, so a
-- replayed token is refused. Rows may be pruned after expires_at (the token's
-- exp), when the token can no longer verify anyway.
CREATE TABLE consent_jwt_uses (
    issuer        text NOT NULL,
    jti           text NOT NULL,
    subscriber_id bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    code          text NOT NULL REFERENCES consent_codes(code) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, jti)
);

-- +goose Down
DROP TABLE consent_jwt_uses;
DROP TABLE consent_codes;
