-- Requests in working days and the meetings' corrections, PostgreSQL dialect. Keep in step with
-- ../sqlite/0027_requests_meetings.sql (docs/design/0019-requests.md, 0022-meetings.md).

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

