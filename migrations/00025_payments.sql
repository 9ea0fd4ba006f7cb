-- In-chat payments (package payments): every pay button the engine sends
-- as an invoice (Telegram sendInvoice) is a row here, keyed by the payload
-- the provider hands back on the pre-checkout and the payment. The row says
-- who may pay what until when, and once paid, the charge ids; the payment
-- itself becomes the subscriber's subscription.renewed event.

-- +goose Up
CREATE TABLE invoices (
    payload            text PRIMARY KEY,
    message_key        text NOT NULL,
    subscriber_id      bigint REFERENCES subscribers(id) ON DELETE SET NULL,
    campaign_id        text NOT NULL,
    campaign_version   text NOT NULL,
    step_id            text NOT NULL,
    channel            text NOT NULL,
    product            text NOT NULL,
    currency           text NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0), -- smallest unit of currency
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid')),
    paid_at            timestamptz,
    charge_id          text UNIQUE, -- Telegram's telegram_payment_charge_id
    provider_charge_id text
);
CREATE INDEX invoices_subscriber ON invoices (subscriber_id);
CREATE INDEX invoices_campaign ON invoices (campaign_id, campaign_version) WHERE status = 'paid';

-- +goose Down
DROP TABLE invoices;
