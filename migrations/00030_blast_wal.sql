-- What Postgres writes per blast message (issue 19 item 2).
--
-- flow_runs.subscriber_id references subscribers: the check locks the
-- subscriber's row FOR KEY SHARE for every run created, one WAL record
-- (54 bytes) and a trigger call per run of a blast. The runs of a blast,
-- a trigger or an event are made from subscriber rows read in the same
-- statement or transaction, and nothing deletes subscribers (erasure
-- pseudonymises, as 00007 says of the messages' references that went then).
--
-- messages keeps free room on each page, so the status updates a row gets
-- after its send (delivered, read: columns in no index) can be HOT: the new
-- version on the same page and no entry in any of the five indexes, instead
-- of five index entries per status.

-- +goose Up
ALTER TABLE flow_runs DROP CONSTRAINT flow_runs_subscriber_id_fkey;
ALTER TABLE messages SET (fillfactor = 90);

-- +goose Down
ALTER TABLE messages RESET (fillfactor);
ALTER TABLE flow_runs ADD CONSTRAINT flow_runs_subscriber_id_fkey
    FOREIGN KEY (subscriber_id) REFERENCES subscribers(id) ON DELETE CASCADE;
