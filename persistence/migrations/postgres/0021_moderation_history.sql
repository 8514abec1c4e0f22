-- A deleted message's text stays readable to moderators for the retention period
-- (LINLI_MOD_DELETED_TEXT_DAYS), then the timers' daily sweep blanks it: deleted_at is when a
-- moderator deleted it, text_purged_at when the sweep blanked its body.
ALTER TABLE mod_messages ADD COLUMN deleted_at BIGINT;
ALTER TABLE mod_messages ADD COLUMN text_purged_at BIGINT;
CREATE INDEX mod_messages_deleted_at ON mod_messages (deleted_at);
-- The audit page filters by who, action, target and date: the time index exists (audit_log_at);
-- these cover the item's history (a message's entries) and the who filter.
CREATE INDEX audit_log_message ON audit_log (channel, "offset");
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
