-- An appeal's outcome and the resident's acknowledgement of the answer (issue 23), SQLite dialect.
-- Keep in step with ../postgres/0038_appeal_outcomes.sql.
--
-- outcome: the moderator's choice when answering, 'upheld' (the decision stands) or 'granted'
-- (the appeal is accepted and the decision undone); NULL while open, and for appeals answered
-- before 0038 (their outcome was read from the decision's state at the time).
-- seen_at: when the resident acknowledged the answer on /appeals; NULL until then, and the chat
-- page tells them of the answer until it is set.
ALTER TABLE mod_appeals ADD COLUMN outcome TEXT;
ALTER TABLE mod_appeals ADD COLUMN seen_at BIGINT;
