/** The rows the engine will never claim, with why, and the schedules it paused: the scans behind warnings and gauges. */

import type { InvalidRow } from "../engine/ports.ts";
import { cronKey } from "../schedule/cron.ts";
import { scheduleOf } from "../schedule/kinds.ts";
import { PAUSED_PREFIX } from "../schedule/slots.ts";
import type { Sql } from "./client.ts";
import { NO_CRON_COLUMNS, type ScheduleColumns } from "./store.ts";
import { TEXT } from "./types.ts";

export type InvalidReason =
  | "workflow missing"
  | "interval_seconds is NULL"
  | "interval_seconds <= 0"
  | "next_run_at is NULL"
  | "next_run_at is not finite";

/** Active rows the engine will never claim, with why. Bounded: this scans the table. */
export async function findInvalid(
  sql: Sql,
  limit = 1000,
  columns: ScheduleColumns = NO_CRON_COLUMNS,
): Promise<InvalidRow[]> {
  const intervalRow = columns.cronExpression ? sql`sw.cron_expression IS NULL` : sql`true`;
  const rows = await sql<InvalidRow[]>`
    SELECT sw.id, CASE
        WHEN w.id IS NULL THEN 'workflow missing'
        WHEN ${intervalRow} AND sw.interval_seconds IS NULL THEN 'interval_seconds is NULL'
        WHEN ${intervalRow} AND sw.interval_seconds <= 0 THEN 'interval_seconds <= 0'
        WHEN sw.next_run_at IS NULL THEN 'next_run_at is NULL'
        ELSE 'next_run_at is not finite' END AS reason
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.is_active
       AND (w.id IS NULL OR (${intervalRow} AND (sw.interval_seconds IS NULL OR sw.interval_seconds <= 0))
            OR sw.next_run_at IS NULL OR NOT isfinite(sw.next_run_at))
     ORDER BY sw.id
     LIMIT ${limit}`;
  const cron = columns.cronExpression ? await invalidCronRows(sql, limit, columns) : [];
  return [...rows, ...cron].sort((a, b) => a.id - b.id).slice(0, limit);
}

/** A cron row whose expression or zone does not compile. */
export interface InvalidCronRow extends InvalidRow {
  readonly cronExpression: string;
  readonly timezone: string | null;
}

/**
 * Active cron rows (with a workflow and a finite `next_run_at`: otherwise they are invalid for
 * that reason first) whose expression or zone the engine's parser refuses. Reads each distinct
 * (expression, zone) once, so a large table of a few schedules costs one small query.
 */
export async function invalidCronRows(
  sql: Sql,
  limit = 1000,
  columns: ScheduleColumns = NO_CRON_COLUMNS,
): Promise<InvalidCronRow[]> {
  if (!columns.cronExpression) return [];
  const zone = columns.timezone ? sql`sw.timezone::text` : sql`NULL::text`;
  const kinds = await sql<{ cron_expression: string; timezone: string | null }[]>`
    SELECT DISTINCT sw.cron_expression::text AS cron_expression, ${zone} AS timezone
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.is_active AND sw.cron_expression IS NOT NULL AND isfinite(sw.next_run_at)`;
  const bad = new Map<string, { expression: string; zone: string | null; reason: string }>();
  for (const kind of kinds) {
    const found = scheduleOf({ intervalSeconds: null, cronExpression: kind.cron_expression, timezone: kind.timezone });
    if (!found.ok)
      bad.set(cronKey(kind.cron_expression, kind.timezone), {
        expression: kind.cron_expression,
        zone: kind.timezone,
        reason: found.reason,
      });
  }
  if (bad.size === 0) return [];
  const expressions = [...bad.values()].map((b) => b.expression);
  const zones = [...bad.values()].map((b) => b.zone);
  const rows = await sql<{ id: number; cron_expression: string; timezone: string | null }[]>`
    SELECT sw.id, sw.cron_expression::text AS cron_expression, ${zone} AS timezone
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
      JOIN unnest(${sql.array(expressions, TEXT)}::text[], ${sql.array(zones as string[], TEXT)}::text[]) AS b(expression, zone)
        ON b.expression = sw.cron_expression::text AND b.zone IS NOT DISTINCT FROM ${zone}
     WHERE sw.is_active AND isfinite(sw.next_run_at)
     ORDER BY sw.id
     LIMIT ${limit}`;
  return rows.map((r) => ({
    id: r.id,
    reason: bad.get(cronKey(r.cron_expression, r.timezone))!.reason,
    cronExpression: r.cron_expression,
    timezone: r.timezone,
  }));
}

/** Schedules the scheduler itself deactivated (SCHEDULER_PAUSE_AFTER_FAILURES). Scans: call rarely. */
export async function countPaused(sql: Sql): Promise<number> {
  const [row] = await sql<{ paused: number }[]>`
    SELECT count(*)::int AS paused FROM scheduled_workflows
     WHERE NOT is_active AND starts_with(last_error, ${PAUSED_PREFIX})`;
  return row!.paused;
}
