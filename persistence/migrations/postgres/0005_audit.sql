-- One audit log for every staff action of every feature (moderation's log, renamed and widened):
-- ``feature`` names the feature, ``subject`` the object acted on when it is not a message or a
-- user (``poll:42``). Append-only as before: the triggers are re-created under the new name.
DROP TRIGGER mod_audit_no_change ON mod_audit;
DROP TRIGGER mod_audit_no_truncate ON mod_audit;
DROP FUNCTION mod_audit_refuse();
ALTER TABLE mod_audit RENAME TO audit_log;
ALTER TABLE audit_log ADD COLUMN feature TEXT NOT NULL DEFAULT 'moderation';
ALTER TABLE audit_log ADD COLUMN subject TEXT;
DROP INDEX mod_audit_at;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_feature ON audit_log (feature, id);

CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
