-- Fire history and operator audit (docs/contract.md §10): optional, additive, safe to run twice.
-- rune-scheduler writes them only where they exist, detected when it starts and at every
-- invalid-row scan (about once a minute), so running schedulers pick them up; drop them to stop.
-- Rows are pruned by the schedulers themselves (SCHEDULER_HISTORY_RETENTION,
-- SCHEDULER_HISTORY_KEEP, SCHEDULER_AUDIT_RETENTION; docs/configuration.md).

-- One row per fire attempt the scheduler recorded on its schedule row, written in the same
-- statement as the row's write-back: a fire is here if and only if run_count counted it (a
-- skipped slot is here and is not counted). No primary key and no sequence: each fire pays one
-- heap tuple and two index entries; rows are addressed by (schedule_id, recorded_at) and pruned
-- by recorded_at.
CREATE TABLE IF NOT EXISTS scheduler_fire_history (
  schedule_id  integer     NOT NULL,
  slot         timestamptz NOT NULL,
  message_id   text,                   -- NULL when nothing was sent (skipped, too large)
  outcome      text        NOT NULL,   -- published | failed | skipped
  reason       text,                   -- why it failed or was skipped (last_error as written)
  missed_runs  integer     NOT NULL DEFAULT 0,
  sent_at      timestamptz,            -- when it was handed to the broker
  confirmed_at timestamptz,            -- when the broker confirmed it (published only)
  lag_seconds  float8,                 -- from the slot to the broker's answer
  replica      text        NOT NULL,   -- SCHEDULER_INSTANCE_NAME, default host:pid
  run_number   integer,                -- run_count after this fire; NULL when skipped
  recorded_at  timestamptz NOT NULL DEFAULT now()  -- the claim transaction's time
);
CREATE INDEX IF NOT EXISTS scheduler_fire_history_schedule_idx
  ON scheduler_fire_history (schedule_id, recorded_at);
CREATE INDEX IF NOT EXISTS scheduler_fire_history_recorded_idx
  ON scheduler_fire_history (recorded_at);

-- One row per operator action (pause, resume, trigger, backfill, bulk actions), from the CLI or
-- the console, written in the transaction of the change it describes; refused console actions
-- are logged (CONSOLE ACTION … refused), not recorded here, as they change nothing.
CREATE TABLE IF NOT EXISTS scheduler_audit (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  actor        text        NOT NULL,   -- "cli user alice", "console 10.0.0.7 token main"
  source       text        NOT NULL,   -- cli | console
  action       text        NOT NULL,   -- pause | resume | trigger | backfill | …
  schedule_ids integer[]   NOT NULL,   -- the rows it changed (or asked for)
  reason       text,
  outcome      text        NOT NULL,   -- what it did, in the verb's words
  detail       jsonb                   -- the verb's own figures (slots sent, message id, …)
);
CREATE INDEX IF NOT EXISTS scheduler_audit_at_idx ON scheduler_audit (at);
CREATE INDEX IF NOT EXISTS scheduler_audit_schedules_idx ON scheduler_audit USING gin (schedule_ids);
