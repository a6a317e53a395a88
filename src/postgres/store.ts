/**
 * Every SQL statement the engine runs, one function each, `sql` first.
 *
 * Times cross the wire as epoch milliseconds computed by PostgreSQL (`extract(epoch …)`), which
 * is exact for both `timestamp` (read as UTC) and `timestamptz`, and never depends on the
 * host's time zone the way parsing a `timestamp` text in JavaScript would.
 */

import type { ClaimRequest, PollResult } from "../engine/ports.ts";
import { describeSchedule } from "../schedule/kinds.ts";
import type { ClaimedRow } from "../schedule/message.ts";
import type { Sql } from "./client.ts";
import { dueAt, hasNoBadValue, hasPolicyColumns, POLICY_COLUMN_NAMES, policyFields } from "./optional-columns.ts";
import { INT4 } from "./types.ts";

/**
 * The due count stops here: it is a gauge for alerts, and counting a large backlog is a scan that
 * a blocked or backlogged scheduler would pay at every poll (docs/performance.md, "Backlog count").
 */
const BACKLOG_CAP = 10_000;

/**
 * The optional columns of docs/contract.md §2 and §11 that this database has. Without them no
 * statement names them, so a database that never ran the migrations works unchanged.
 */
export interface ScheduleColumns {
  readonly cronExpression: boolean;
  readonly timezone: boolean;
  readonly misfirePolicy: boolean;
  readonly misfireGrace: boolean;
  readonly endsAt: boolean;
  readonly maxRuns: boolean;
  readonly jitter: boolean;
}

export const NO_CRON_COLUMNS: ScheduleColumns = Object.freeze({
  cronExpression: false,
  timezone: false,
  misfirePolicy: false,
  misfireGrace: false,
  endsAt: false,
  maxRuns: false,
  jitter: false,
});

const OPTIONAL_NAMES = ["cron_expression", "timezone", ...Object.values(POLICY_COLUMN_NAMES)];

/** Which optional columns a set of column names holds (the timezone column counts only beside cron_expression). */
export function columnsFrom(names: { has(name: string): boolean }): ScheduleColumns {
  const cron = names.has("cron_expression");
  return {
    cronExpression: cron,
    timezone: cron && names.has("timezone"),
    misfirePolicy: names.has(POLICY_COLUMN_NAMES.misfirePolicy),
    misfireGrace: names.has(POLICY_COLUMN_NAMES.misfireGrace),
    endsAt: names.has(POLICY_COLUMN_NAMES.endsAt),
    maxRuns: names.has(POLICY_COLUMN_NAMES.maxRuns),
    jitter: names.has(POLICY_COLUMN_NAMES.jitter),
  };
}

/** Which optional columns `scheduled_workflows` has (as the session's search_path finds it). */
export async function scheduleColumns(sql: Sql): Promise<ScheduleColumns> {
  const rows = await sql<{ name: string }[]>`
    SELECT a.attname AS name FROM pg_attribute a
     WHERE a.attrelid = to_regclass('scheduled_workflows') AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname IN ${sql(OPTIONAL_NAMES)}`;
  return columnsFrom(new Set(rows.map((row) => row.name)));
}

/** `sw.cron_expression` and `sw.timezone` as text, or NULLs when the columns are absent. */
function cronOnly(sql: Sql, columns: ScheduleColumns) {
  const expression = columns.cronExpression ? sql`sw.cron_expression::text` : sql`NULL::text`;
  const zone = columns.timezone ? sql`sw.timezone::text` : sql`NULL::text`;
  return sql`${expression} AS cron_expression, ${zone} AS timezone`;
}

/**
 * The columns that say how a row is scheduled, for every listing: `cron_expression` and
 * `timezone` (NULLs when absent), and the policy columns when this database has any (read them
 * from a row with {@link policyOfRow}).
 */
export function cronFields(sql: Sql, columns: ScheduleColumns) {
  return hasPolicyColumns(columns)
    ? sql`${cronOnly(sql, columns)}, ${policyFields(sql, columns)}`
    : cronOnly(sql, columns);
}

/** The policy columns as {@link cronFields} selects them (absent on a database without them). */
export interface PolicyRowColumns {
  readonly misfire_policy?: string | null;
  readonly misfire_grace_seconds?: string | number | null;
  readonly ends_at_ms?: number | null;
  readonly max_runs?: string | number | null;
  readonly jitter_seconds?: string | number | null;
}

const numberOrNull = (value: string | number | null | undefined) =>
  value === null || value === undefined ? null : Number(value);

/** A listed row's policy columns, camel-cased, for kinds.describeSchedule and the console. */
export function policyOfRow(r: PolicyRowColumns) {
  return {
    misfirePolicy: r.misfire_policy ?? null,
    misfireGraceSeconds: numberOrNull(r.misfire_grace_seconds),
    endsAtMs: r.ends_at_ms ?? null,
    maxRuns: numberOrNull(r.max_runs),
    jitterSeconds: numberOrNull(r.jitter_seconds),
  };
}

/** The columns that identify a schedule row to an operator, as every listing selects them. */
export interface ListedRowColumns extends PolicyRowColumns {
  readonly id: number;
  readonly workflow_id: number | null;
  readonly workflow_name: string | null;
  readonly interval_seconds: number | null;
  readonly cron_expression: string | null;
  readonly timezone: string | null;
}

/** A listed row's id, workflow and its schedule in words (`every 5m`, `0 9 * * * Europe/Berlin`). */
export function listedRow(r: ListedRowColumns) {
  return {
    id: r.id,
    workflowId: r.workflow_id,
    workflowName: r.workflow_name,
    schedule: describeSchedule({
      intervalSeconds: r.interval_seconds,
      cronExpression: r.cron_expression,
      timezone: r.timezone,
      ...policyOfRow(r),
    }),
  };
}

/**
 * THE definition of a row the engine may claim (with `JOIN workflows w`): active, scheduled (a
 * cron expression, or else a positive interval), a finite `next_run_at` (NULL fails `isfinite`),
 * and not skipped: set aside by this process, or a cron row whose expression or zone the engine's
 * own parser refused (SQL cannot judge those; see invalid-rows.ts, whose `invalidReason` is
 * this rule's complement, written with the same {@link scheduled}).
 * `'-infinity'` would otherwise sort first and have no next slot; `'infinity'` is never due.
 * Every statement that claims, counts or times due rows uses this one fragment.
 */
export function claimable(sql: Sql, skipIds: readonly number[] = [], columns: ScheduleColumns = NO_CRON_COLUMNS) {
  const bad = hasPolicyColumns(columns) ? sql` AND ${hasNoBadValue(sql, columns)}` : sql``;
  return sql`sw.is_active AND ${scheduled(sql, columns)} AND isfinite(sw.next_run_at)${bad}
    AND sw.id <> ALL(${sql.array(skipIds as number[], INT4)}::int4[])`;
}

/**
 * A row that says when it fires: a cron expression, or else a positive interval. NULL (not
 * false) for a NULL interval, so a caller that negates it must write `IS NOT TRUE`.
 */
export function scheduled(sql: Sql, columns: ScheduleColumns) {
  // A one-shot (max_runs = 1, no interval, no cron expression) says when it fires: next_run_at.
  const once = columns.maxRuns ? sql` OR (sw.max_runs = 1 AND sw.interval_seconds IS NULL)` : sql``;
  if (!columns.cronExpression)
    return columns.maxRuns ? sql`(sw.interval_seconds > 0${once})` : sql`sw.interval_seconds > 0`;
  return sql`(sw.cron_expression IS NOT NULL OR sw.interval_seconds > 0${once})`;
}

/**
 * A row without jitter (NULL or 0; a negative jitter is a bad value and never claimable): its
 * due time is `next_run_at` itself, so the (next_run_at) index finds it (docs/design.md §23).
 */
function unjittered(sql: Sql) {
  return sql`sw.jitter_seconds > 0 IS NOT TRUE`;
}

/**
 * Due now: `next_run_at` has passed (what the index finds) and, for a jittered row, so has the
 * slot's jittered time (docs/design.md §23). A row without jitter pays nothing more.
 */
function dueNow(sql: Sql, columns: ScheduleColumns) {
  return columns.jitter
    ? sql`sw.next_run_at <= now() AND (${unjittered(sql)} OR ${dueAt(sql, columns)} <= now())`
    : sql`sw.next_run_at <= now()`;
}

/**
 * The next due time within the look-ahead: the first slot of a row without jitter (one index
 * step, as without the column), or an earlier jittered time. A jittered row fires at or after
 * its slot, so only jittered rows whose slot comes before that first plain slot can beat it:
 * the jitter path reads just those, at most {@link JITTER_POLL_ROWS} of them (a bound on a
 * backlog's scan; a later one is found by the next poll, at most a poll interval on).
 */
function nextDue(sql: Sql, lookAheadMs: number, skipIds: readonly number[], columns: ScheduleColumns) {
  // The look-ahead as a literal (a finite number from the configuration), not a parameter: with
  // a parameter the generic plan guesses a third of the table in the window, the plan cache then
  // re-plans every poll, and planning the policy filters costs more than running them.
  const seconds = sql.unsafe(String(lookAheadSeconds(lookAheadMs)));
  const window = sql`sw.next_run_at <= now() + make_interval(secs => ${seconds})`;
  const from = sql`FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
        WHERE ${claimable(sql, skipIds, columns)} AND ${window}`;
  if (!columns.jitter)
    return sql`(SELECT (extract(epoch FROM sw.next_run_at) * 1000)::float8 ${from}
        ORDER BY sw.next_run_at LIMIT 1)`;
  // least() ignores a NULL (no plain row, or no jittered row before it); OFFSET 0 keeps the
  // planner from pulling `plain` up, which would look the first plain slot up twice.
  return sql`(SELECT least((extract(epoch FROM plain.at) * 1000)::float8, (
       SELECT min(due_ms) FROM (
         SELECT (extract(epoch FROM ${dueAt(sql, columns)}) * 1000)::float8 AS due_ms ${from}
            AND sw.jitter_seconds > 0 AND sw.next_run_at < coalesce(plain.at, 'infinity')
          ORDER BY sw.next_run_at LIMIT ${sql.unsafe(String(JITTER_POLL_ROWS))}) d))
     FROM (SELECT (SELECT sw.next_run_at ${from} AND ${unjittered(sql)}
             ORDER BY sw.next_run_at LIMIT 1) AS at OFFSET 0) plain)`;
}

const JITTER_POLL_ROWS = 1000;

function lookAheadSeconds(lookAheadMs: number): number {
  if (!Number.isFinite(lookAheadMs) || lookAheadMs < 0)
    throw new RangeError(`poll: the look-ahead must be a finite number of ms >= 0, got ${lookAheadMs}`);
  return lookAheadMs / 1000;
}

export async function poll(
  sql: Sql,
  lookAheadMs: number,
  skipIds: readonly number[] = [],
  columns: ScheduleColumns = NO_CRON_COLUMNS,
): Promise<PollResult> {
  const [row] = await sql<{ db_now_ms: number; next_slot_ms: number | null; due_count: number }[]>`
    SELECT (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms,
      ${nextDue(sql, lookAheadMs, skipIds, columns)} AS next_slot_ms,
      (SELECT count(*)::int FROM (
         SELECT 1 FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
          WHERE ${claimable(sql, skipIds, columns)} AND ${dueNow(sql, columns)}
          LIMIT ${BACKLOG_CAP}) due) AS due_count`;
  return { dbNowMs: row!.db_now_ms, nextSlotMs: row!.next_slot_ms, dueCount: row!.due_count };
}

/** The engine's claim request as one statement runs it: the byte budget counts {@link MESSAGE_OVERHEAD_BYTES} a row. */
export interface ClaimStatement extends ClaimRequest {
  /** The optional columns present (absent: none). */
  readonly columns?: ScheduleColumns;
}

export interface Claimed {
  readonly dbNowMs: number;
  readonly rows: ClaimedRow[];
  /** Rows locked, at least `rows.length`: more than that means the byte budget cut the batch. */
  readonly locked: number;
}

/** The message around `workflow_data`: body fields, properties and headers, generously rounded. */
export const MESSAGE_OVERHEAD_BYTES = 512;

/**
 * Locks up to `limit` due rows for this transaction and returns the leading ones that fit the
 * byte budget. Rows another scheduler holds are skipped, and rows that are not
 * {@link claimable} never match. `FOR NO KEY UPDATE` is the weakest lock that serves: the
 * UPDATE never changes a key, and it leaves foreign-key checks from other tables (KEY SHARE)
 * unblocked. Rows locked past the budget are released, untouched, at the commit.
 */
export async function claimDue(sql: Sql, request: ClaimStatement): Promise<Claimed> {
  const budget = request.budgetBytes ?? Number.MAX_SAFE_INTEGER;
  const columns = request.columns ?? NO_CRON_COLUMNS;
  const policy = hasPolicyColumns(columns);
  const rows = await sql<
    {
      id: number;
      workflow_id: number;
      slot_ms: number;
      interval_seconds: number;
      cron_expression: string | null;
      timezone: string | null;
      run_count: number;
      failure_count: number;
      workflow_name: string | null;
      workflow_data: string | null;
      misfire_policy: string | null;
      misfire_grace_seconds: string | null;
      ends_at_ms: number | null;
      max_runs: string | null;
      jitter_seconds: string | null;
      db_now_ms: number;
      locked: number;
    }[]
  >`
    SELECT id, workflow_id, slot_ms, interval_seconds, cron_expression, timezone, run_count, failure_count, workflow_name, workflow_data,
           ${policy ? sql`misfire_policy, misfire_grace_seconds, ends_at_ms, max_runs, jitter_seconds,` : sql``}
           (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms, locked
      FROM (SELECT c.*, count(*) OVER ()::int AS locked,
                   sum(coalesce(octet_length(c.workflow_data), 0) + ${MESSAGE_OVERHEAD_BYTES})
                     OVER (ORDER BY c.next_run_at, c.id) AS running,
                   row_number() OVER (ORDER BY c.next_run_at, c.id) AS rn
              FROM (SELECT sw.id, sw.workflow_id, sw.next_run_at,
                           (extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms,
                           coalesce(sw.interval_seconds, 0) AS interval_seconds, ${cronOnly(sql, columns)},
                           ${policy ? sql`${policyFields(sql, columns)},` : sql``}
                           coalesce(sw.run_count, 0) AS run_count,
                           coalesce(sw.failure_count, 0) AS failure_count,
                           w.name AS workflow_name, w.workflow_data::text AS workflow_data
                      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
                     WHERE ${claimable(sql, request.skipIds, columns)} AND ${dueNow(sql, columns)}
                     ORDER BY sw.next_run_at
                     LIMIT ${request.limit}
                       FOR NO KEY UPDATE OF sw SKIP LOCKED) c) r
     WHERE rn = 1 OR running <= ${budget}
     ORDER BY rn`;
  return {
    // Every row carries the same transaction time; with no row there is nothing to time.
    dbNowMs: rows[0]?.db_now_ms ?? Number.NaN,
    locked: rows[0]?.locked ?? 0,
    rows: rows.map((r) => {
      const row: ClaimedRow = {
        id: r.id,
        workflowId: r.workflow_id,
        slotMs: r.slot_ms,
        intervalSeconds: r.interval_seconds,
        runCount: r.run_count,
        failureCount: r.failure_count,
        workflowName: r.workflow_name,
        workflowData: r.workflow_data,
      };
      // Only a cron row carries the cron fields (a spread here would copy every row once more).
      const withCron =
        r.cron_expression === null ? row : { ...row, cronExpression: r.cron_expression, timezone: r.timezone };
      return policy ? withPolicy(withCron, r) : withCron;
    }),
  };
}

/**
 * The policy columns' values a row has set, added to it (NULL or absent stay absent: today's
 * behaviour). The claim reads a NULL interval as 0; a one-shot is the only row claimed with one
 * (see {@link scheduled}), so its interval is NULL again here.
 */
export function withPolicy<T extends ClaimedRow>(row: T, r: PolicyRowColumns): T {
  const policy = policyOfRow(r);
  if (
    policy.misfirePolicy === null &&
    policy.misfireGraceSeconds === null &&
    policy.endsAtMs === null &&
    policy.maxRuns === null &&
    policy.jitterSeconds === null
  )
    return row;
  const oneShot = policy.maxRuns === 1 && (row.cronExpression ?? null) === null && row.intervalSeconds === 0;
  return {
    ...row,
    ...(oneShot ? { intervalSeconds: null } : {}),
    ...(policy.misfirePolicy === null ? {} : { misfirePolicy: policy.misfirePolicy }),
    ...(policy.misfireGraceSeconds === null ? {} : { misfireGraceSeconds: policy.misfireGraceSeconds }),
    ...(policy.endsAtMs === null ? {} : { endsAtMs: policy.endsAtMs }),
    ...(policy.maxRuns === null ? {} : { maxRuns: policy.maxRuns }),
    ...(policy.jitterSeconds === null ? {} : { jitterSeconds: policy.jitterSeconds }),
  };
}

/**
 * A round trip that also says which server answered, as that server sees itself (its address and
 * port, or "a local socket") and whether it is a standby: with several hosts in the
 * configuration, the one in use is what an operator needs to know.
 */
export async function ping(sql: Sql): Promise<string> {
  const [row] = await sql<{ server: string | null; standby: boolean }[]>`
    SELECT host(inet_server_addr()) || ':' || inet_server_port() AS server, pg_is_in_recovery() AS standby`;
  return `${row?.server ?? "a local socket"}${row?.standby ? " (standby)" : ""}`;
}
