/**
 * Inactive rows and who made them so: paused by the operator (`pause`), paused by the scheduler
 * after SCHEDULER_PAUSE_AFTER_FAILURES, or switched off outside rune-scheduler (the API, by hand).
 */

import { ENDED_PREFIX, OPERATOR_PAUSE_PREFIX, PAUSED_PREFIX } from "../schedule/slots.ts";
import type { Sql } from "./client.ts";
import { cronFields, type ListedRowColumns, listedRow, NO_CRON_COLUMNS, type ScheduleColumns } from "./store.ts";

/**
 * Who paused an inactive row, told by its `last_error`; `ended`: the scheduler deactivated it
 * because its `ends_at` or `max_runs` came (not a pause); null: not rune-scheduler.
 */
type PausedBy = "operator" | "scheduler" | "ended" | null;

/** THE rule (on `sw`): 'operator', 'scheduler', 'ended', or NULL for a row nobody here paused. */
export function pausedBy(sql: Sql) {
  return sql`CASE WHEN sw.is_active THEN NULL
      WHEN starts_with(sw.last_error, ${OPERATOR_PAUSE_PREFIX}) THEN 'operator'
      WHEN starts_with(sw.last_error, ${PAUSED_PREFIX}) THEN 'scheduler'
      WHEN starts_with(sw.last_error, ${`${ENDED_PREFIX}:`}) THEN 'ended' END`;
}

/** Schedules the scheduler itself deactivated (SCHEDULER_PAUSE_AFTER_FAILURES). Scans: call rarely. */
export async function countPaused(sql: Sql): Promise<number> {
  const [row] = await sql<{ paused: number }[]>`
    SELECT count(*)::int AS paused FROM scheduled_workflows sw WHERE ${pausedBy(sql)} = 'scheduler'`;
  return row!.paused;
}

export interface InactiveRow {
  readonly id: number;
  readonly workflowId: number | null;
  readonly workflowName: string | null;
  readonly schedule: string;
  readonly by: PausedBy;
  /** The why without its prefix: the operator's `--reason`, the scheduler's count and last error; else `last_error`. */
  readonly reason: string | null;
  readonly lastError: string | null;
  /** `updated_at`, epoch ms: when it was paused, for a row paused here; else when it was last written. */
  readonly sinceMs: number | null;
}

/** Drops the prefix that says who paused the row: the rest is why. */
function reasonOf(by: PausedBy, lastError: string | null): string | null {
  const prefix =
    by === "operator" ? OPERATOR_PAUSE_PREFIX : by === "scheduler" ? PAUSED_PREFIX : by === "ended" ? ENDED_PREFIX : "";
  if (lastError === null || prefix === "") return lastError;
  return lastError.slice(prefix.length).replace(/^:?\s*/, "") || null;
}

/** Inactive rows, those paused by rune-scheduler first, then the most recently written. */
export async function inactiveRows(
  sql: Sql,
  limit: number,
  columns: ScheduleColumns = NO_CRON_COLUMNS,
): Promise<InactiveRow[]> {
  const rows = await sql<
    (ListedRowColumns & {
      by: PausedBy;
      last_error: string | null;
      since_ms: number | null;
    })[]
  >`
    SELECT sw.id, sw.workflow_id, w.name AS workflow_name, sw.interval_seconds, ${cronFields(sql, columns)},
           ${pausedBy(sql)} AS by, sw.last_error,
           floor(extract(epoch FROM sw.updated_at) * 1000)::float8 AS since_ms
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE NOT sw.is_active
     ORDER BY ${pausedBy(sql)} IS NULL, sw.updated_at DESC NULLS LAST, sw.id
     LIMIT ${limit}`;
  return rows.map((r) => ({
    ...listedRow(r),
    by: r.by,
    reason: reasonOf(r.by, r.last_error),
    lastError: r.last_error,
    sinceMs: Number.isFinite(r.since_ms) ? r.since_ms : null,
  }));
}
