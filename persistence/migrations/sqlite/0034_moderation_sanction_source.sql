-- The message that prompted a mute or ban (issue 23), SQLite dialect. Keep in step
-- with ../postgres/0034_moderation_sanction_source.sql.
--
-- A sanction given from a reported or flagged message on /mod records that message (its channel
-- and offset): the room the sanction applies to (channel; NULL: every room) is another thing,
-- and /mod names both. NULL for sanctions given without a message, and for those before 0034.
ALTER TABLE mod_sanctions ADD COLUMN source_channel TEXT;
ALTER TABLE mod_sanctions ADD COLUMN source_offset BIGINT;
