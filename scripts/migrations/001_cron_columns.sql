-- Optional cron schedules (docs/contract.md §2, §3): additive, safe to run twice, and safe on a
-- live table (ADD COLUMN without a default only changes the catalogue; it takes a brief ACCESS
-- EXCLUSIVE lock, so run it when no long transaction holds the table).
-- A row with a non-NULL cron_expression is scheduled by it and its interval_seconds is ignored;
-- timezone is an IANA name (NULL = UTC). rune-scheduler detects the columns when it starts and
-- at every invalid-row scan (about once a minute), so running schedulers pick them up.
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS cron_expression text;
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS timezone text;
-- interval_seconds may then be NULL on cron rows (the reference schema never made it NOT NULL;
-- if yours does: ALTER TABLE scheduled_workflows ALTER COLUMN interval_seconds DROP NOT NULL;)
