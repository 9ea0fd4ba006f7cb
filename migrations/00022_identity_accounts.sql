-- Several accounts per channel: a subscriber's address belongs to the bot,
-- page or number it opted in on (a Telegram chat id is per bot), so the
-- same address on two accounts is two identities. Existing identities
-- belong to the default account, 'main' (channels.DefaultAccount).

-- +goose Up
ALTER TABLE channel_identities ADD COLUMN account text NOT NULL DEFAULT 'main';
ALTER TABLE channel_identities DROP CONSTRAINT channel_identities_channel_address_key;
ALTER TABLE channel_identities ADD CONSTRAINT channel_identities_channel_account_address_key UNIQUE (channel, account, address);

-- +goose Down
DELETE FROM channel_identities WHERE account <> 'main';
ALTER TABLE channel_identities DROP CONSTRAINT channel_identities_channel_account_address_key;
ALTER TABLE channel_identities ADD CONSTRAINT channel_identities_channel_address_key UNIQUE (channel, address);
ALTER TABLE channel_identities DROP COLUMN account;
