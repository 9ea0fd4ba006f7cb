-- The WhatsApp message-template catalogue (channels/whatsapp/catalogue):
-- `nudge channels sync whatsapp` copies each account's business-account
-- templates here, so lint and preview check campaign references (name,
-- language, parameter counts, status, category) without calling Meta. A
-- resync replaces an account's rows: templates deleted on WhatsApp go.
-- whatsapp_template_syncs says when an account was last synced, so "no
-- catalogue" (never synced) differs from "no templates".

-- +goose Up
CREATE TABLE whatsapp_templates (
    account       text NOT NULL,  -- Nudge's account name ('main' by default)
    waba_id       text NOT NULL,  -- the WhatsApp Business Account listed
    name          text NOT NULL,
    language      text NOT NULL,
    category      text NOT NULL,  -- MARKETING, UTILITY, AUTHENTICATION
    status        text NOT NULL,  -- APPROVED, PENDING, REJECTED, PAUSED, DISABLED
    body_params   int  NOT NULL,
    header_params int  NOT NULL,
    button_params int  NOT NULL,  -- URL buttons with a {{1}}
    buttons       jsonb NOT NULL, -- button labels in order
    components    jsonb NOT NULL, -- as Meta listed them
    synced_at     timestamptz NOT NULL,
    PRIMARY KEY (account, name, language)
);

CREATE TABLE whatsapp_template_syncs (
    account   text PRIMARY KEY,
    waba_id   text NOT NULL,
    templates int NOT NULL,
    synced_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE whatsapp_template_syncs;
DROP TABLE whatsapp_templates;
