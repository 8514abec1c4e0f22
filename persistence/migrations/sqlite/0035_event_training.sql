-- An event marked as a training session (教學說明會), SQLite dialect. Keep in step with
-- ../postgres/0035_event_training.sql (docs/design/0018-events.md).
--
-- The onboarding pages (the welcome page, the handbook) list the next upcoming training
-- events with the events feature's own sign-up (capacity, waitlist): the mark is all that is
-- stored; 1 = training, 0 = any other event.
ALTER TABLE events ADD COLUMN training INTEGER NOT NULL DEFAULT 0;
