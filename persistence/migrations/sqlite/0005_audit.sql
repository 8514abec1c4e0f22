-- One audit log for every staff action of every feature (moderation's log, renamed and widened):
-- ``feature`` names the feature, ``subject`` the object acted on when it is not a message or a
-- user (``poll:42``). Append-only as before: the triggers are re-created under the new name.
DROP TRIGGER mod_audit_no_update;
DROP TRIGGER mod_audit_no_delete;
ALTER TABLE mod_audit RENAME TO audit_log;
ALTER TABLE audit_log ADD COLUMN feature TEXT NOT NULL DEFAULT 'moderation';
ALTER TABLE audit_log ADD COLUMN subject TEXT;
DROP INDEX mod_audit_at;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_feature ON audit_log (feature, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
