-- Reference schema of the tables rune-scheduler reads (docs/contract.md §1). The Rune API owns these tables
-- in production; this file is for tests, benchmarks and first-time users. Safe to run twice.
CREATE TABLE IF NOT EXISTS workflows (
  id            serial PRIMARY KEY,
  name          text NOT NULL,
  workflow_data jsonb
);

CREATE TABLE IF NOT EXISTS scheduled_workflows (
  id               serial PRIMARY KEY,
  workflow_id      integer,
  is_active        boolean NOT NULL DEFAULT true,
  next_run_at      timestamp,
  interval_seconds integer,          -- ignored (may be NULL) when cron_expression is set
  run_count        integer NOT NULL DEFAULT 0,
  failure_count    integer NOT NULL DEFAULT 0,
  last_run_at      timestamp,
  last_error       text,
  updated_at       timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
  cron_expression  text,             -- optional (docs/contract.md §2): 5 fields, or 6 with seconds first
  timezone         text              -- optional: IANA zone of cron_expression; NULL = UTC
);

-- A database made by an older copy of this file gets the optional columns here too.
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS cron_expression text;
ALTER TABLE scheduled_workflows ADD COLUMN IF NOT EXISTS timezone text;

-- The index every poll and claim uses. On a live table create it with
-- CREATE INDEX CONCURRENTLY (which cannot run inside a transaction).
CREATE INDEX IF NOT EXISTS scheduled_workflows_due_idx
  ON scheduled_workflows (next_run_at) WHERE is_active;

-- The per-schedule policy columns (misfire_policy, misfire_grace_seconds, ends_at, max_runs,
-- jitter_seconds) are optional too: scripts/migrations/003_schedule_policy_columns.sql adds them.

-- The operator console's indexes are optional and not part of this schema: each fire would
-- write one more index entry. scripts/migrations/002_console_indexes.sql adds them where the
-- console pages a large table.
