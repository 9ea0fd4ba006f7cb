-- What customers send besides text (photos, voice notes, documents), fetched
-- from the provider and kept for managers; and managers on shift, to whom new
-- conversations are assigned in turn.

-- +goose Up
-- One row per attachment of a reply (replies has the same channel and
-- provider_event_id). data is NULL when the file was not kept: note says why
-- (over NUDGE_INBOX_MEDIA_MAX_BYTES, or the provider refused it).
CREATE TABLE reply_media (
    id                bigserial PRIMARY KEY,
    subscriber_id     bigint NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    channel           text NOT NULL,
    provider_event_id text NOT NULL,
    idx               int NOT NULL,
    kind              text NOT NULL,
    mime              text NOT NULL DEFAULT '',
    name              text NOT NULL DEFAULT '',
    size              bigint NOT NULL DEFAULT 0,
    data              bytea,
    note              text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    UNIQUE (channel, provider_event_id, idx)
);
CREATE INDEX reply_media_subscriber ON reply_media (subscriber_id);

-- The text of the button a customer pressed, as they saw it (the campaign's
-- button definition, else the provider's), so managers read labels, not ids.
ALTER TABLE replies ADD COLUMN label text NOT NULL DEFAULT '';

-- A manager on shift (a row) takes new conversations of their queues (none
-- listed: every queue) in turn: the one assigned longest ago goes next.
CREATE TABLE inbox_shifts (
    user_id          bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    queues           text[] NOT NULL DEFAULT '{}',
    since            timestamptz NOT NULL,
    last_assigned_at timestamptz
);

-- nudge_inbox_open (migration 00013) now assigns a conversation it opens to
-- the next manager on shift for its queue, in the same transaction. An
-- advisory lock orders concurrent openings, so two never take the same turn.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_inbox_open(p_subscriber bigint, p_channel text, p_queue text, p_reason text,
                                 p_note text, p_runs bigint[], p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    conv  bigint;
    fresh boolean;
    who   bigint;
    q     text := coalesce(nullif(p_queue, ''), 'general');
BEGIN
    INSERT INTO conversations (subscriber_id, channel, queue, reason, note, run_ids, opened_at)
    VALUES (p_subscriber, p_channel, q, p_reason, p_note, p_runs, p_at)
    ON CONFLICT (subscriber_id) WHERE state = 'open' DO UPDATE
       SET note = CASE WHEN EXCLUDED.note = '' THEN conversations.note
                       WHEN conversations.note = '' THEN EXCLUDED.note
                       ELSE conversations.note || E'\n' || EXCLUDED.note END,
           run_ids = ARRAY(SELECT DISTINCT unnest(conversations.run_ids || EXCLUDED.run_ids)),
           queue = CASE WHEN EXCLUDED.reason = 'handoff' THEN EXCLUDED.queue ELSE conversations.queue END
    RETURNING id, (xmax = 0) INTO conv, fresh;
    IF p_note <> '' OR p_reason = 'handoff' THEN
        INSERT INTO conversation_items (conversation_id, kind, text, created_at)
        VALUES (conv, 'system', 'Handed off (' || p_reason || ')' || CASE WHEN p_note <> '' THEN ': ' || p_note ELSE '' END, p_at);
    END IF;
    IF fresh AND EXISTS (SELECT 1 FROM inbox_shifts) THEN
        PERFORM pg_advisory_xact_lock(hashtext('nudge_inbox_round_robin'));
        UPDATE inbox_shifts SET last_assigned_at = p_at
         WHERE user_id = (SELECT s.user_id FROM inbox_shifts s JOIN users u ON u.id = s.user_id AND u.disabled_at IS NULL
                           WHERE cardinality(s.queues) = 0 OR q = ANY(s.queues)
                           ORDER BY s.last_assigned_at NULLS FIRST, s.since, s.user_id LIMIT 1)
        RETURNING user_id INTO who;
        IF who IS NOT NULL THEN
            UPDATE conversations SET assignee_id = who WHERE id = conv;
            INSERT INTO conversation_items (conversation_id, kind, text, created_at)
            SELECT conv, 'system', 'Assigned to ' || email || ' (on shift)', p_at FROM users WHERE id = who;
        END IF;
    END IF;
    PERFORM pg_notify('nudge_inbox', json_build_object('conversation_id', conv, 'kind', 'opened')::text);
    RETURN conv;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION nudge_inbox_open(p_subscriber bigint, p_channel text, p_queue text, p_reason text,
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
DROP TABLE inbox_shifts;
ALTER TABLE replies DROP COLUMN label;
DROP TABLE reply_media;
