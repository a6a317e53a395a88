/**
 * The outcome write-back's SET list (docs/design.md §10), ONE definition for the write with the
 * fire history (fire-history.ts) and without it (record.ts), so the two can never set a column
 * differently. Both read the row `sw` and the batch's row `u`.
 */

import type { Sql } from "./client.ts";

/** Any outcome: `u` has `next_ms`, `outcome` ('ok', 'failed', 'skipped'), `error` and `pause`. */
export const outcomeSet = (sql: Sql) => sql`
  next_run_at   = to_timestamp(u.next_ms / 1000.0),
  last_run_at   = CASE WHEN u.outcome = 'skipped' THEN sw.last_run_at ELSE now() END,
  run_count     = CASE WHEN u.outcome = 'skipped' THEN sw.run_count ELSE coalesce(sw.run_count, 0) + 1 END,
  failure_count = CASE u.outcome WHEN 'ok' THEN 0
                                 WHEN 'failed' THEN coalesce(sw.failure_count, 0) + 1
                                 ELSE sw.failure_count END,
  last_error    = u.error,
  is_active     = sw.is_active AND NOT u.pause,
  updated_at    = now()`;

/**
 * A batch of plain successes (confirmed, nothing to say or pause): the "ok" arm of each CASE of
 * {@link outcomeSet}, the same columns set (a trigger on any of them fires as before); `u` has
 * `next_ms` only.
 */
export const successSet = (sql: Sql) => sql`
  next_run_at   = to_timestamp(u.next_ms / 1000.0),
  last_run_at   = now(),
  run_count     = coalesce(sw.run_count, 0) + 1,
  failure_count = 0,
  last_error    = NULL,
  is_active     = sw.is_active,
  updated_at    = now()`;
