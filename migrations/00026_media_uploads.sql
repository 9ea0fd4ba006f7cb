-- Media uploaded to a provider once and reused by reference (package
-- channels/uploads): a VK photo uploaded through
-- photos.getMessagesUploadServer → upload → photos.saveMessagesPhoto is
-- sent as "photo<owner>_<id>[_<access_key>]" to every later recipient of
-- the same image URL from the same account; a document the same way
-- ("doc<owner>_<id>", docs.getMessagesUploadServer → upload → docs.save).

-- +goose Up
CREATE TABLE media_uploads (
    channel     text NOT NULL,
    account     text NOT NULL,
    kind        text NOT NULL, -- photo | doc
    source_url  text NOT NULL,
    reference   text NOT NULL,
    uploaded_at timestamptz NOT NULL,
    PRIMARY KEY (channel, account, kind, source_url)
);

-- +goose Down
DROP TABLE media_uploads;
