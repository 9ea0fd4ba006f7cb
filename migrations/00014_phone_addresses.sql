-- Phones are stored in E.164 (subscribers.NormalizeAddress). Identities bound
-- from a WhatsApp start before that kept Meta's form without the "+", so an
-- opt-out of a subscriber created by the import or the API ("+7…") found
-- nobody. They get their "+", unless that form is already bound: then both
-- rows stay (they may belong to two subscribers) for an operator to merge.

-- +goose Up
UPDATE channel_identities ci SET address = '+' || ci.address
 WHERE ci.channel IN ('whatsapp', 'sms') AND ci.address ~ '^[1-9][0-9]{6,14}$'
   AND NOT EXISTS (SELECT 1 FROM channel_identities o
                    WHERE o.channel = ci.channel AND o.address = '+' || ci.address);

-- +goose Down
-- Nothing to undo: the "+" form is the canonical one.
SELECT 1;
