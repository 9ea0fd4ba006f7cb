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

-- +goose Down
DROP TABLE message_parts;
