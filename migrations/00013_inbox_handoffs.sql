-- One implementation of "open or join the subscriber's conversation", used by
-- inbox.Open (Go) and by the trigger that turns every flow hand-off (a handoff
-- step, or a reply no branch matched) into an inbox conversation.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION nudge_inbox_open(p_subscriber bigint, p_channel text, p_queue text, p_reason text,
                                 p_note text, p_runs bigint[], p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    conv bigint;
BEGIN
    INSERT INTO conversations (subscriber_id, channel, queue, reason, note, run_ids, opened_at)
    VALUES (p_subscriber, p_channel, coalesce(nullif(p_queue, ''), 'general'), p_reason, p_note, p_runs, p_at)
    ON CONFLICT (subscriber_id) WHERE state = 'open' DO UPDATE
       SET note = CASE WHEN EXCLUDED.note = '' THEN conversations.note
                       WHEN conversations.note = '' THEN EXCLUDED.note
                       ELSE conversations.note || E'\n' || EXCLUDED.note END,
           run_ids = ARRAY(SELECT DISTINCT unnest(conversations.run_ids || EXCLUDED.run_ids)),
           queue = CASE WHEN EXCLUDED.reason = 'handoff' THEN EXCLUDED.queue ELSE conversations.queue END
    RETURNING id INTO conv;
    IF p_note <> '' OR p_reason = 'handoff' THEN
        INSERT INTO conversation_items (conversation_id, kind, text, created_at)
        VALUES (conv, 'system', 'Handed off (' || p_reason || ')' || CASE WHEN p_note <> '' THEN ': ' || p_note ELSE '' END, p_at);
    END IF;
    PERFORM pg_notify('nudge_inbox', json_build_object('conversation_id', conv, 'kind', 'opened')::text);
    RETURN conv;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION nudge_handoff_to_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ch text;
BEGIN
    -- The conversation continues on the channel the run last wrote on, else
    -- the one the customer last wrote from.
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

CREATE TRIGGER handoffs_to_inbox AFTER INSERT ON handoffs
    FOR EACH ROW EXECUTE FUNCTION nudge_handoff_to_inbox();

-- +goose Down
DROP TRIGGER handoffs_to_inbox ON handoffs;
DROP FUNCTION nudge_handoff_to_inbox();
DROP FUNCTION nudge_inbox_open(bigint, text, text, text, text, bigint[], timestamptz);
