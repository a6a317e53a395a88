/**
 * The operator verbs' statements (src/operator/verbs.ts, backfill.ts; docs/design.md §21): one
 * schedule read with its lock, the writes of trigger, pause and resume, and the transaction whose
 * row locks wait a bounded time.
 */
import type { ClaimedRow } from "../schedule/message.ts";
import { LOCAL_LIMITS, type Sql } from "./client.ts";
import { cronFields, type PolicyRowColumns, type ScheduleColumns, scheduleColumns, withPolicy } from "./store.ts";

export interface OperatorRow extends ClaimedRow {
  readonly isActive: boolean;
  readonly hasWorkflow: boolean;
  /** next_run_at, epoch ms (not finite when NULL or ±infinity). */
  readonly slotMs: number;
  readonly rawIntervalSeconds: number | null;
  /** now(): the transaction's start. */
  readonly dbNowMs: number;
  /** clock_timestamp() when the row was read (after its lock was granted). */
  readonly clockMs: number;
  readonly lastRunMs: number | null;
}

/**
 * One schedule with its workflow, optionally locked for this transaction (`FOR NO KEY UPDATE`,
 * waiting); null when there is none. `known`: the table's optional columns, looked up once by a
 * bulk verb for all its rows (else here, one more round trip).
 */
export async function readOperatorRow(
  sql: Sql,
  id: number,
  lock: boolean,
  known?: ScheduleColumns,
): Promise<OperatorRow | null> {
  const columns = known ?? (await scheduleColumns(sql));
  const rows = await sql<
    {
      id: number;
      workflow_id: number;
      is_active: boolean;
      slot_ms: number | null;
      interval_seconds: number | null;
      cron_expression: string | null;
      timezone: string | null;
      run_count: number;
      failure_count: number;
      has_workflow: boolean;
      workflow_name: string | null;
      workflow_data: string | null;
      db_now_ms: number;
      clock_ms: number;
      last_run_ms: number | null;
    }[]
  >`
    SELECT sw.id, sw.workflow_id, sw.is_active, (extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms,
           sw.interval_seconds, ${cronFields(sql, columns)}, coalesce(sw.run_count, 0) AS run_count,
           coalesce(sw.failure_count, 0) AS failure_count, w.id IS NOT NULL AS has_workflow,
           w.name AS workflow_name, w.workflow_data::text AS workflow_data,
           (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms,
           (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS clock_ms,
           (extract(epoch FROM sw.last_run_at) * 1000)::float8 AS last_run_ms
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.id = ${id}
     ${lock ? sql`FOR NO KEY UPDATE OF sw` : sql``}`;
  const r = rows[0];
  if (!r) return null;
  const row: OperatorRow = {
    id: r.id,
    workflowId: r.workflow_id,
    isActive: r.is_active,
    slotMs: r.slot_ms ?? Number.NaN,
    intervalSeconds: r.interval_seconds ?? 0,
    rawIntervalSeconds: r.interval_seconds,
    cronExpression: r.cron_expression,
    timezone: r.timezone,
    runCount: r.run_count,
    failureCount: r.failure_count,
    hasWorkflow: r.has_workflow,
    workflowName: r.workflow_name,
    workflowData: r.workflow_data,
    dbNowMs: r.db_now_ms,
    clockMs: r.clock_ms,
    lastRunMs: r.last_run_ms,
  };
  // The policy columns (docs/contract.md §11), selected by cronFields when the table has them.
  return withPolicy(row, r as PolicyRowColumns);
}

/**
 * Runs `work` in a transaction whose row locks wait at most `lockTimeoutMs`. The other session
 * limits are set for it too: through a pooler (POSTGRES_POOLER) the start-up packet carries none,
 * and `trigger` publishes while it holds its row lock, so a verb cut off mid-way would otherwise
 * keep that schedule locked (and silently skipped by every claim) until the pooler notices.
 */
export async function withLockTimeout<T>(sql: Sql, lockTimeoutMs: number, work: (tx: Sql) => Promise<T>): Promise<T> {
  const limits = new Map(LOCAL_LIMITS);
  limits.set("lock_timeout", `${lockTimeoutMs}ms`);
  const [a, b, c] = [...limits] as [[string, string], [string, string], [string, string]];
  return (await sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    await t`SELECT set_config(${a[0]}, ${a[1]}, true), set_config(${b[0]}, ${b[1]}, true), set_config(${c[0]}, ${c[1]}, true)`;
    return work(t);
  })) as T;
}

/** A lock wait that ran out (lock_not_available). */
export function isLockTimeout(error: unknown): boolean {
  return (error as { code?: unknown }).code === "55P03";
}

/**
 * `trigger`'s write: recorded as a confirmed fire is; `next_run_at` is never touched. `end`
 * (`ended: …`) when the run reached max_runs: the row is deactivated with it as the reason.
 */
export async function recordManualRun(tx: Sql, id: number, nowMs: number, end: string | null = null): Promise<void> {
  await tx`
    UPDATE scheduled_workflows SET last_run_at = to_timestamp(${nowMs} / 1000.0), run_count = coalesce(run_count, 0) + 1,
           failure_count = 0, last_error = ${end}, is_active = is_active AND ${end === null}, updated_at = now()
     WHERE id = ${id}`;
}

/** `pause`'s write. */
export async function pauseRow(tx: Sql, id: number, lastError: string): Promise<void> {
  await tx`UPDATE scheduled_workflows SET is_active = false, last_error = ${lastError}, updated_at = now() WHERE id = ${id}`;
}

/** `resume`'s write: active again at `nextMs`, its failures forgotten. */
export async function resumeRow(tx: Sql, id: number, nextMs: number): Promise<void> {
  await tx`
    UPDATE scheduled_workflows SET is_active = true, next_run_at = to_timestamp(${nextMs} / 1000.0),
           failure_count = 0, last_error = NULL, updated_at = now()
     WHERE id = ${id}`;
}

/**
 * `created_at` of the row, where the table has the column (the reference schema does not): a
 * schedule has no slots from before it existed, whatever its grid or expression says.
 */
export async function createdAt(sql: Sql, id: number): Promise<number | null> {
  const [column] = await sql<{ found: boolean }[]>`
    SELECT true AS found FROM pg_attribute
     WHERE attrelid = to_regclass('scheduled_workflows') AND attname = 'created_at' AND attnum > 0 AND NOT attisdropped`;
  if (!column) return null;
  const [row] = await sql<{ created_ms: number | null }[]>`
    SELECT floor(extract(epoch FROM created_at) * 1000)::float8 AS created_ms FROM scheduled_workflows WHERE id = ${id}`;
  const ms = row?.created_ms ?? null;
  return ms !== null && Number.isFinite(ms) ? ms : null;
}
