-- Indexes for the operator console's schedule list (SCHEDULER_CONSOLE_TOKEN): each page walks one
-- of them in (next_run_at, id) order and stops after 50 rows, so a page costs the same on a
-- million rows as on a hundred. Optional: without them the list still works, by scanning. Safe
-- to run twice; CONCURRENTLY keeps the table writable (run each statement on its own, outside a
-- transaction). Each adds one index entry to write per fire.
CREATE INDEX CONCURRENTLY IF NOT EXISTS scheduled_workflows_next_run_id_idx
  ON scheduled_workflows (next_run_at, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS scheduled_workflows_inactive_idx
  ON scheduled_workflows (next_run_at, id) WHERE NOT is_active;
CREATE INDEX CONCURRENTLY IF NOT EXISTS scheduled_workflows_failing_idx
  ON scheduled_workflows (next_run_at, id) WHERE failure_count > 0;
