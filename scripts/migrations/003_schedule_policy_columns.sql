-- Per-schedule catch-up policy, end and jitter (docs/contract.md §11, docs/design.md §23, §24):
-- additive, safe to run twice, and safe on a live table (ADD COLUMN without a default only changes
-- the catalogue; it takes a brief ACCESS EXCLUSIVE lock, so run it when no long transaction holds
-- the table). NULL in every column is the behaviour without them. rune-scheduler detects the
-- columns when it starts and at every invalid-row scan (about once a minute).
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS misfire_policy text;          -- once | skip | all; NULL = once
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS misfire_grace_seconds integer; -- NULL = SCHEDULER_MISFIRE_GRACE
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS ends_at timestamp;            -- UTC; no slot after it fires
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS max_runs integer;             -- ended once run_count reaches it
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS jitter_seconds integer;       -- each slot fires up to this much later
-- A one-shot (max_runs = 1, no cron expression) has interval_seconds NULL (the reference schema
-- never made it NOT NULL; if yours does: ALTER TABLE scheduled_workflows ALTER COLUMN interval_seconds DROP NOT NULL;)
