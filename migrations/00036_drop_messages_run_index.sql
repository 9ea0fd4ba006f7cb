-- messages_run (run_id) goes (issue 19 item 2): a blast wrote one entry
-- per message into it, about 75 B of WAL (5% of a message's) and a btree
-- insert, for two readers that know the run's subscriber as well. Every
-- message of a run is its subscriber's (the worker writes the run's
-- subscriber_id; nothing moves either), so those readers ask for the
-- subscriber's messages of the run and messages_cap (subscriber_id, …)
-- finds them: the hand-off trigger below, and the funnel
-- (analytics/store.go qFunnel), which joins the campaign's runs to their
-- subscribers' messages.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_handoff_to_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ch   text;
    acc  text;
    conv bigint;
BEGIN
    -- The conversation continues on the channel and account the run last
    -- wrote through, else those the customer last wrote from.
    SELECT channel, account INTO ch, acc FROM messages
     WHERE subscriber_id = NEW.subscriber_id AND run_id = NEW.run_id AND status <> 'skipped'
     ORDER BY id DESC LIMIT 1;
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
DROP INDEX messages_run;

-- +goose Down
CREATE INDEX messages_run ON messages (run_id);
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
