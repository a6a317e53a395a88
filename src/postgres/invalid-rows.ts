/** The rows the engine will never claim, with why: the scans behind warnings, gauges, `stats` and `check-db`. */

import type { InvalidRow } from "../engine/ports.ts";
import { cronKey } from "../schedule/cron.ts";
import { describeSchedule, scheduleOf } from "../schedule/kinds.ts";
import { jitterProblem } from "../schedule/policy.ts";
import type { Sql } from "./client.ts";
import { badValueArms, badValueReasons } from "./optional-columns.ts";
import {
  cronFields,
  type ListedRowColumns,
  listedRow,
  NO_CRON_COLUMNS,
  type ScheduleColumns,
  scheduled,
} from "./store.ts";
import { TEXT } from "./types.ts";

/** The reasons SQL can judge, in the order they are tried: a row is invalid for the first that applies. */
const INVALID_REASONS = [
  "workflow missing",
  "interval_seconds is NULL",
  "interval_seconds <= 0",
  "next_run_at is NULL",
  "next_run_at is not finite",
] as const;
/** A reason above, or one of optional-columns.ts's bad values (`max_runs < 1`, …). */
export type InvalidReason = (typeof INVALID_REASONS)[number] | (string & {});

/** An invalid row as an operator needs it to find and fix it. */
export interface InvalidRowDetail extends InvalidRow {
  readonly workflowId: number | null;
  /** NULL when the workflow is missing. */
  readonly workflowName: string | null;
  /** `every 0s (invalid)`, `interval NULL`, `61 * * * * UTC`. */
  readonly schedule: string;
}

/** A cron row whose expression or zone does not compile. */
export interface InvalidCronRow extends InvalidRowDetail {
  readonly cronExpression: string;
  readonly timezone: string | null;
}

/**
 * THE invalid-row rule SQL can judge (with `LEFT JOIN workflows w`), the complement of
 * store.claimable for an active row: the first {@link InvalidReason} that applies, or NULL when
 * SQL finds nothing wrong (a cron row may still be refused by the parser: {@link invalidCronRows}).
 */
export function invalidReason(sql: Sql, columns: ScheduleColumns) {
  return sql`CASE
      WHEN w.id IS NULL THEN 'workflow missing'
      WHEN ${scheduled(sql, columns)} IS NOT TRUE THEN
        CASE WHEN sw.interval_seconds IS NULL THEN 'interval_seconds is NULL' ELSE 'interval_seconds <= 0' END
      WHEN sw.next_run_at IS NULL THEN 'next_run_at is NULL'
      WHEN NOT isfinite(sw.next_run_at) THEN 'next_run_at is not finite'
      ${badValueArms(sql, columns)}
    END`;
}

/** Active rows the engine will never claim, with why, lowest id first. Bounded: this scans the table. */
export async function findInvalid(
  sql: Sql,
  limit = 1000,
  columns: ScheduleColumns = NO_CRON_COLUMNS,
): Promise<InvalidRowDetail[]> {
  const rows = await sql<(ListedRowColumns & { reason: InvalidReason })[]>`
    SELECT * FROM (
      SELECT sw.id, ${invalidReason(sql, columns)} AS reason, sw.workflow_id, w.name AS workflow_name,
             sw.interval_seconds, ${cronFields(sql, columns)}
        FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
       WHERE sw.is_active) r
     WHERE reason IS NOT NULL
     ORDER BY id
     LIMIT ${limit}`;
  const found: InvalidRowDetail[] = rows.map((r) => ({ ...listedRow(r), reason: r.reason }));
  const cron = columns.cronExpression ? await invalidCronRows(sql, limit, columns) : [];
  // A row SQL already lists (a bad max_runs, say) is listed once, for its first reason.
  const listed = new Set(found.map((row) => row.id));
  return [...found, ...cron.filter((row) => !listed.has(row.id))].sort((a, b) => a.id - b.id).slice(0, limit);
}

/**
 * Active cron rows SQL finds nothing wrong with (a workflow, a finite `next_run_at`) whose
 * expression or zone the engine's parser refuses. Reads each distinct (expression, zone) once,
 * so a large table of a few schedules costs one small query.
 */
export async function invalidCronRows(
  sql: Sql,
  limit = 1000,
  columns: ScheduleColumns = NO_CRON_COLUMNS,
): Promise<InvalidCronRow[]> {
  if (!columns.cronExpression) return [];
  const zone = columns.timezone ? sql`sw.timezone::text` : sql`NULL::text`;
  // A cron row's jitter is judged against the gaps of its expression, which only JavaScript knows.
  const jitter = columns.jitter ? sql`coalesce(sw.jitter_seconds, 0)::int8` : sql`0::int8`;
  const kinds = await sql<{ cron_expression: string; timezone: string | null; jitter: string; now_ms: number }[]>`
    SELECT DISTINCT sw.cron_expression::text AS cron_expression, ${zone} AS timezone, ${jitter} AS jitter,
           (extract(epoch FROM now()) * 1000)::float8 AS now_ms
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.is_active AND sw.cron_expression IS NOT NULL AND isfinite(sw.next_run_at)`;
  const bad = new Map<string, { expression: string; zone: string | null; jitter: number; reason: string }>();
  for (const kind of kinds) {
    const found = scheduleOf({ intervalSeconds: null, cronExpression: kind.cron_expression, timezone: kind.timezone });
    const jitterSeconds = Number(kind.jitter);
    const reason = found.ok ? jitterProblem(found.schedule, jitterSeconds, kind.now_ms) : found.reason;
    if (reason !== null)
      bad.set(badKey(kind.cron_expression, kind.timezone, jitterSeconds), {
        expression: kind.cron_expression,
        zone: kind.timezone,
        jitter: jitterSeconds,
        reason,
      });
  }
  if (bad.size === 0) return [];
  const expressions = [...bad.values()].map((b) => b.expression);
  const zones = [...bad.values()].map((b) => b.zone);
  const jitters = [...bad.values()].map((b) => b.jitter);
  const rows = await sql<
    {
      id: number;
      workflow_id: number;
      workflow_name: string;
      cron_expression: string;
      timezone: string | null;
      jitter: string;
    }[]
  >`
    SELECT sw.id, sw.workflow_id, w.name AS workflow_name, sw.cron_expression::text AS cron_expression, ${zone} AS timezone,
           ${jitter} AS jitter
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
      JOIN unnest(${sql.array(expressions, TEXT)}::text[], ${sql.array(zones as string[], TEXT)}::text[],
                  ${sql.array(jitters.map(String), TEXT)}::int8[]) AS b(expression, zone, jitter)
        ON b.expression = sw.cron_expression::text AND b.zone IS NOT DISTINCT FROM ${zone} AND b.jitter = ${jitter}
     WHERE sw.is_active AND isfinite(sw.next_run_at)
     ORDER BY sw.id
     LIMIT ${limit}`;
  return rows.map((r) => ({
    id: r.id,
    reason: bad.get(badKey(r.cron_expression, r.timezone, Number(r.jitter)))!.reason,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    schedule: describeSchedule({ intervalSeconds: null, cronExpression: r.cron_expression, timezone: r.timezone }),
    cronExpression: r.cron_expression,
    timezone: r.timezone,
  }));
}

const badKey = (expression: string, zone: string | null, jitter: number) =>
  `${cronKey(expression, zone)}\u0000${jitter}`;

/** Active rows by {@link InvalidReason} (zero for none), by the same rule as {@link findInvalid}. */
export async function invalidCounts(sql: Sql, columns: ScheduleColumns): Promise<Record<InvalidReason, number>> {
  const rows = await sql<{ reason: InvalidReason; count: number }[]>`
    SELECT reason, count(*)::int AS count FROM (
      SELECT ${invalidReason(sql, columns)} AS reason
        FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
       WHERE sw.is_active) r
     WHERE reason IS NOT NULL
     GROUP BY reason`;
  // The bad-value reasons appear only where their columns are: without them the counts are today's.
  const reasons = [...INVALID_REASONS, ...badValueReasons(columns)];
  const counts = Object.fromEntries(reasons.map((reason) => [reason, 0])) as Record<InvalidReason, number>;
  for (const row of rows) counts[row.reason] = row.count;
  return counts;
}
