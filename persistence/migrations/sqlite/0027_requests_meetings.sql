-- Requests in working days and the meetings' corrections, SQLite dialect. Keep in step with
-- ../postgres/0027_requests_meetings.sql (docs/design/0019-requests.md, 0022-meetings.md).

-- The days that are not working days besides Saturdays and Sundays (national holidays, a typhoon
-- day), kept by admins; day is the local date 'YYYY-MM-DD' of the installation's time zone.
CREATE TABLE request_holidays (
    day         TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- When 7, 30 and 365 working days from filing end (the figures' "resolved within n days"),
-- fixed when filed like respond_by and resolve_by. Requests filed before this migration keep
-- calendar days: working days were not counted when they were filed.
ALTER TABLE requests ADD COLUMN due_7 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN due_30 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN due_365 BIGINT NOT NULL DEFAULT 0;
UPDATE requests SET due_7 = created_at + 604800000, due_30 = created_at + 2592000000,
    due_365 = created_at + 31536000000;


-- A staff correction of a recorded meeting vote (a paper ballot typed in wrongly): the vote row
-- takes the new choice, this row keeps what it was, why, who and when (design 0022).
CREATE TABLE meeting_vote_corrections (
    id           INTEGER PRIMARY KEY,
    item_id      BIGINT  NOT NULL REFERENCES meeting_items (id) ON DELETE CASCADE,
    unit_id      BIGINT  NOT NULL,
    old_choice   TEXT    NOT NULL,
    new_choice   TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    corrected_by BIGINT  NOT NULL,
    corrected_at BIGINT  NOT NULL
);
CREATE INDEX meeting_vote_corrections_item ON meeting_vote_corrections (item_id, id);

-- The notice (persistence/notices) a meeting's published minutes went out as, in the category
-- 會議紀錄 to the owners' households; the notice links back to the meeting in its text.
ALTER TABLE meetings ADD COLUMN minutes_notice_id BIGINT;

-- An owner's personal check-in QR (shown on their meeting page, scanned by the desk's phone):
-- a random token per owner (or proxy) and meeting, made the first time it is shown.
CREATE TABLE meeting_owner_tokens (
    meeting_id  BIGINT  NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token       TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);

-- Files attached to an agenda item (quotes, a plan): the bytes are blobs (persistence/blobs),
-- checked by content at upload (web/uploads.py); at most MAX_ITEM_FILES an item.
CREATE TABLE meeting_item_files (
    id          INTEGER PRIMARY KEY,
    item_id     BIGINT  NOT NULL REFERENCES meeting_items (id) ON DELETE CASCADE,
    blob_id     TEXT    NOT NULL,
    filename    TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    sha256      TEXT    NOT NULL,
    added_by    BIGINT  NOT NULL REFERENCES users (id),
    added_at    BIGINT  NOT NULL
);
CREATE INDEX meeting_item_files_item ON meeting_item_files (item_id, id);
