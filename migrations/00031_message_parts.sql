-- Two facts about where messages go.
--
-- The parts of a multi-part send that reached the customer (an album and
-- then its text, a document and then the text, an image and then the text):
-- when a later part fails, the worker records how many went before it, and
-- the retry resumes at the failed part (channels.SendParts). Keyed by the
-- message's idempotency key, since the step path writes a message row only
-- after its send; the row goes when the message is sent.

-- +goose Up
CREATE TABLE message_parts (
    idempotency_key text PRIMARY KEY,
    parts_sent      int NOT NULL CHECK (parts_sent > 0),
    updated_at      timestamptz NOT NULL
);

-- A conversation records the channel account it continues on: the one the
-- customer last wrote from in it, or, for a run's hand-off, the one the run
-- last wrote through (a Telegram chat id is per bot). The manager's reply
-- goes through that account's identity (inbox qConvTarget).
ALTER TABLE conversations ADD COLUMN account text;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_handoff_to_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ch   text;
    acc  text;
    conv bigint;
BEGIN
    -- The conversation continues on the channel and account the run last
    -- wrote through, else those the customer last wrote from.
    SELECT channel, account INTO ch, acc FROM messages WHERE run_id = NEW.run_id AND status <> 'skipped' ORDER BY id DESC LIMIT 1;
    IF ch IS NULL THEN
        SELECT channel, account INTO ch, acc FROM channel_identities WHERE subscriber_id = NEW.subscriber_id
         ORDER BY last_inbound_at DESC NULLS LAST, id LIMIT 1;
    END IF;
    conv := nudge_inbox_open(NEW.subscriber_id, coalesce(ch, 'sandbox'), NEW.queue,
        CASE WHEN NEW.note = 'unmatched reply' THEN 'unmatched' ELSE 'handoff' END,
        CASE WHEN NEW.note = 'unmatched reply' THEN '' ELSE NEW.note END,
        CASE WHEN NEW.run_id IS NULL THEN '{}'::bigint[] ELSE ARRAY[NEW.run_id] END, NEW.created_at);
    IF acc IS NOT NULL THEN
        UPDATE conversations SET account = acc WHERE id = conv AND channel = ch;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_handoff_to_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ch text;
BEGIN
    SELECT channel INTO ch FROM messages WHERE run_id = NEW.run_id AND status <> 'skipped' ORDER BY id DESC LIMIT 1;
    IF ch IS NULL THEN
        SELECT channel INTO ch FROM channel_identities WHERE subscriber_id = NEW.subscriber_id
         ORDER BY last_inbound_at DESC NULLS LAST, id LIMIT 1;
    END IF;
    PERFORM nudge_inbox_open(NEW.subscriber_id, coalesce(ch, 'sandbox'), NEW.queue,
        CASE WHEN NEW.note = 'unmatched reply' THEN 'unmatched' ELSE 'handoff' END,
        CASE WHEN NEW.note = 'unmatched reply' THEN '' ELSE NEW.note END,
        CASE WHEN NEW.run_id IS NULL THEN '{}'::bigint[] ELSE ARRAY[NEW.run_id] END, NEW.created_at);
    RETURN NEW;
END $$;
-- +goose StatementEnd
ALTER TABLE conversations DROP COLUMN account;
DROP TABLE message_parts;
