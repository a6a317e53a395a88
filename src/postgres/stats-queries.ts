/**
 * The queries behind `stats`: schedule health as an operator sees it. One query per function,
 * `sql` first. Times come back as whole epoch milliseconds computed by PostgreSQL (see store.ts), and
 * "valid" means what the engine claims (store.claimable): active, with a workflow, a cron
 * expression its parser accepts or else `interval_seconds > 0`, and a finite `next_run_at`
 * (docs/design.md §11).
 */

import { describeSchedule } from "../schedule/kinds.ts";
import type { Sql } from "./client.ts";
import { type LastFailure, lastFailures } from "./history-queries.ts";
import { historyTables } from "./history-tables.ts";
import { type InactiveRow, inactiveRows, pausedBy } from "./inactive-rows.ts";
import { findInvalid, type InvalidCronRow, type InvalidRowDetail, invalidCronRows } from "./invalid-rows.ts";
import { cronColumns, hasPolicyColumns, presentPolicyColumns } from "./optional-columns.ts";
import { type RowCounts, rowCounts } from "./schema-check.ts";
import {
  claimable,
  cronFields,
  NO_CRON_COLUMNS,
  type PolicyRowColumns,
  policyOfRow,
  type ScheduleColumns,
  scheduleColumns,
} from "./store.ts";

/** What `stats` reads with the optional columns: which are present, and the ids of bad cron rows. */
interface CronView {
  readonly columns: ScheduleColumns;
  readonly skipIds: readonly number[];
}
const NO_CRON: CronView = { columns: NO_CRON_COLUMNS, skipIds: [] };

interface HealthCounts {
  /** The database clock, epoch ms. */
  dbNowMs: number;
  /** Valid active rows due longer ago than the threshold. */
  overdue: number;
  /** Rows with `failure_count > 0`, active or not. */
  failing: number;
  /** Rows the scheduler deactivated after SCHEDULER_PAUSE_AFTER_FAILURES. */
  paused: number;
  /** Rows deactivated by `rune-scheduler pause`. */
  pausedByOperator: number;
  /** Rows, active or not, whose workflow does not exist. */
  workflowMissing: number;
}

async function healthCounts(sql: Sql, overdueAfterMs: number, cron: CronView = NO_CRON): Promise<HealthCounts> {
  const [row] = await sql<
    {
      db_now_ms: number;
      overdue: number;
      failing: number;
      paused: number;
      paused_by_operator: number;
      workflow_missing: number;
    }[]
  >`
    SELECT floor(extract(epoch FROM now()) * 1000)::float8 AS db_now_ms,
      count(*) FILTER (WHERE ${claimable(sql, cron.skipIds, cron.columns)} AND w.id IS NOT NULL
                         AND sw.next_run_at < now() - make_interval(secs => ${overdueAfterMs / 1000}))::int AS overdue,
      count(*) FILTER (WHERE sw.failure_count > 0)::int AS failing,
      count(*) FILTER (WHERE ${pausedBy(sql)} = 'scheduler')::int AS paused,
      count(*) FILTER (WHERE ${pausedBy(sql)} = 'operator')::int AS paused_by_operator,
      count(*) FILTER (WHERE w.id IS NULL)::int AS workflow_missing
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id`;
  const r = row!;
  return {
    dbNowMs: r.db_now_ms,
    overdue: r.overdue,
    failing: r.failing,
    paused: r.paused,
    pausedByOperator: r.paused_by_operator,
    workflowMissing: r.workflow_missing,
  };
}

interface OverdueRow {
  id: number;
  slotMs: number;
}

/** The valid active row whose slot is the oldest not yet fired, or null when nothing is due. */
export async function oldestDue(sql: Sql, cron: CronView = NO_CRON): Promise<OverdueRow | null> {
  const [row] = await sql<{ id: number; slot_ms: number }[]>`
    SELECT sw.id, floor(extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
     WHERE ${claimable(sql, cron.skipIds, cron.columns)} AND sw.next_run_at <= now()
     ORDER BY sw.next_run_at, sw.id
     LIMIT 1`;
  return row ? { id: row.id, slotMs: row.slot_ms } : null;
}

interface FailingRow {
  id: number;
  workflowId: number;
  workflowName: string | null;
  isActive: boolean;
  failureCount: number;
  intervalSeconds: number | null;
  cronExpression: string | null;
  timezone: string | null;
  /** The kind as an operator reads it: `every 5m` or `0 9 * * MON-FRI Europe/Berlin`. */
  schedule: string;
  lastRunMs: number | null;
  lastError: string | null;
  /** The newest failed fire in the history table (when it exists and holds one): when, which slot, which replica. */
  lastFailure?: LastFailure;
}

/** Each failing row with its last failure from the history, where there is a history table. */
async function withLastFailures(sql: Sql, rows: FailingRow[]): Promise<FailingRow[]> {
  // Readable, not only there: a monitoring user granted only the schedules gets the report as before.
  if (rows.length === 0 || !(await historyTables(sql)).firesReadable) return rows;
  const found = await lastFailures(
    sql,
    rows.map((r) => r.id),
  );
  return rows.map((r) => {
    const last = found.get(r.id);
    return last ? { ...r, lastFailure: last } : r;
  });
}

/**
 * Rows with consecutive failed fires, longest-failing first. The table keeps no "failing since",
 * so the order estimates it as `failure_count × interval_seconds` (each failure moved the row
 * on by at least one interval), then by `failure_count`.
 */
async function failingLongest(sql: Sql, limit: number, cron: CronView = NO_CRON): Promise<FailingRow[]> {
  const rows = await sql<
    {
      id: number;
      workflow_id: number;
      workflow_name: string | null;
      is_active: boolean;
      failure_count: number;
      interval_seconds: number | null;
      cron_expression: string | null;
      timezone: string | null;
      last_run_ms: number | null;
      last_error: string | null;
    }[]
  >`
    SELECT sw.id, sw.workflow_id, w.name AS workflow_name, sw.is_active, sw.failure_count, sw.interval_seconds,
           ${cronFields(sql, cron.columns)},
           floor(extract(epoch FROM sw.last_run_at) * 1000)::float8 AS last_run_ms, sw.last_error
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.failure_count > 0
     ORDER BY sw.failure_count::bigint * greatest(coalesce(sw.interval_seconds, 0), 0) DESC,
              sw.failure_count DESC, sw.id
     LIMIT ${limit}`;
  return rows.map((r) => ({
    id: r.id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    isActive: r.is_active,
    failureCount: r.failure_count,
    ...scheduleView(r),
    lastRunMs: r.last_run_ms,
    lastError: r.last_error,
  }));
}

/** A row's schedule columns, and the schedule as stats shows it (`every 5m`, `0 9 * * * Europe/Berlin`). */
function scheduleView(
  r: { interval_seconds: number | null; cron_expression: string | null; timezone: string | null } & PolicyRowColumns,
) {
  const columns = { intervalSeconds: r.interval_seconds, cronExpression: r.cron_expression, timezone: r.timezone };
  return { ...columns, schedule: describeSchedule({ ...columns, ...policyOfRow(r) }) };
}

interface UpcomingRow {
  id: number;
  workflowId: number;
  workflowName: string;
  slotMs: number;
  /** NULL only on a cron row. */
  intervalSeconds: number | null;
  cronExpression: string | null;
  timezone: string | null;
  schedule: string;
}

/** The next valid active slots not yet due, soonest first. */
export async function upcoming(sql: Sql, limit: number, cron: CronView = NO_CRON): Promise<UpcomingRow[]> {
  const rows = await sql<
    {
      id: number;
      workflow_id: number;
      workflow_name: string;
      slot_ms: number;
      interval_seconds: number | null;
      cron_expression: string | null;
      timezone: string | null;
    }[]
  >`
    SELECT sw.id, sw.workflow_id, w.name AS workflow_name,
           floor(extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms, sw.interval_seconds,
           ${cronFields(sql, cron.columns)}
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
     WHERE ${claimable(sql, cron.skipIds, cron.columns)} AND sw.next_run_at > now()
     ORDER BY sw.next_run_at, sw.id
     LIMIT ${limit}`;
  return rows.map((r) => ({
    id: r.id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    slotMs: r.slot_ms,
    ...scheduleView(r),
  }));
}

interface OrphanRow {
  id: number;
  workflowId: number | null;
  isActive: boolean;
}

/** Schedules, active first, whose workflow row does not exist. */
async function missingWorkflows(sql: Sql, limit: number): Promise<OrphanRow[]> {
  const rows = await sql<{ id: number; workflow_id: number | null; is_active: boolean }[]>`
    SELECT sw.id, sw.workflow_id, sw.is_active
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE w.id IS NULL
     ORDER BY sw.is_active DESC, sw.id
     LIMIT ${limit}`;
  return rows.map((r) => ({ id: r.id, workflowId: r.workflow_id, isActive: r.is_active }));
}

export interface ScheduleHealth {
  dbNowMs: number;
  counts: RowCounts & Omit<HealthCounts, "dbNowMs">;
  oldestDue: (OverdueRow & { lateSeconds: number }) | null;
  failing: FailingRow[];
  upcoming: UpcomingRow[];
  workflowMissing: OrphanRow[];
  /** Inactive rows, with who paused each and why: the first {@link LIST_LIMIT}, of `counts.inactive`. */
  paused: InactiveRow[];
  /** Active rows the engine will not fire, every kind, by id: the first {@link LIST_LIMIT}. */
  invalid: InvalidRowDetail[];
  /** The optional cron columns found, and the active cron rows the engine will not fire (and why). */
  cron: { columns: { cronExpression: boolean; timezone: boolean }; invalid: InvalidCronRow[] };
  /** The per-schedule policy columns found (docs/contract.md §11); absent when there are none. */
  policy?: { columns: string[] };
}

const LIST_LIMIT = 10;

/**
 * Every figure of `stats`, read in one read-only REPEATABLE READ transaction: one snapshot and
 * one `now()`, so the counts agree with each other and with the lists.
 */
export async function scheduleHealth(sql: Sql, overdueAfterMs: number): Promise<ScheduleHealth> {
  return sql.begin("isolation level repeatable read read only", async (tx) => {
    const t = tx as unknown as Sql;
    const columns = await scheduleColumns(t);
    const invalid = await invalidCronRows(t, 1000, columns);
    const cron: CronView = { columns, skipIds: invalid.map((row) => row.id) };
    const base = await rowCounts(t, columns, cron.skipIds);
    const { dbNowMs, ...health } = await healthCounts(t, overdueAfterMs, cron);
    const due = await oldestDue(t, cron);
    return {
      dbNowMs,
      counts: { ...base, ...health },
      oldestDue: due ? { ...due, lateSeconds: Math.max(0, (dbNowMs - due.slotMs) / 1000) } : null,
      failing: await withLastFailures(t, await failingLongest(t, LIST_LIMIT, cron)),
      upcoming: await upcoming(t, LIST_LIMIT, cron),
      workflowMissing: await missingWorkflows(t, LIST_LIMIT),
      paused: await inactiveRows(t, LIST_LIMIT, columns),
      invalid: await findInvalid(t, LIST_LIMIT, columns),
      cron: { columns: cronColumns(columns), invalid },
      ...(hasPolicyColumns(columns) ? { policy: { columns: presentPolicyColumns(columns) } } : {}),
    };
  }) as Promise<ScheduleHealth>;
}
