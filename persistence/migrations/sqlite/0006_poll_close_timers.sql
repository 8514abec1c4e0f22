-- Scheduled closes of polls are timer jobs now (workers/timers.py): give every open poll that
-- has a closing time its job, so a poll opened before this version still closes on time.
INSERT INTO timer_jobs (key, kind, due_at, payload, created_at)
SELECT 'polls.close:' || id, 'polls.close', closes_at, '{"poll_id":' || id || '}', closes_at
FROM polls WHERE state = 'open' AND closes_at IS NOT NULL;
