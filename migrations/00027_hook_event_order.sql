-- +goose Up
-- handoff.opened is reported when the transaction that opened the
-- conversation commits, after everything else it reported: a customer's
-- reply that opened (or handed off to) a conversation is recorded after the
-- conversation, since the reply row names it, yet it is the cause and the
-- shop must hear it first. Deferred to the commit, the hand-off's event takes
-- its id (the outbox's order per subscriber) after the reply's.
DROP TRIGGER conversations_opened_hook ON conversations;
CREATE CONSTRAINT TRIGGER conversations_opened_hook AFTER INSERT ON conversations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION nudge_hook_conversation();

-- A delivery being posted is leased (database time, as the HTTP timeout is
-- wall time) rather than row-locked through its request: the request holds
-- no connection, and the lease still keeps its line (one head at a time)
-- until the outcome is recorded, or until it lapses after a crash and the
-- head is posted again (at least once).
ALTER TABLE webhook_deliveries ADD COLUMN posting_until timestamptz;

-- +goose Down
ALTER TABLE webhook_deliveries DROP COLUMN posting_until;
DROP TRIGGER conversations_opened_hook ON conversations;
CREATE TRIGGER conversations_opened_hook AFTER INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION nudge_hook_conversation();
