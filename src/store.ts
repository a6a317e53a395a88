/**
 * Every SQL statement the engine runs, one function each, `sql` first.
 *
 * Times cross the wire as epoch milliseconds computed by PostgreSQL (`extract(epoch …)`), which
 * is exact for both `timestamp` (read as UTC) and `timestamptz`, and never depends on the
 * host's time zone the way parsing a `timestamp` text in JavaScript would.
 */
import { isConnectionError, isSessionAlive, SESSION_LIMITS, StatementDeadlineError, withDeadline, type RenewablePool, type Sql } from "./db.ts";
import type { TransactionSql } from "postgres";
import type { ClaimedRow } from "./message.ts";
import type { RowUpdate } from "./plan.ts";
import { scheduleOf } from "./schedule.ts";
import { PAUSED_PREFIX } from "./slots.ts";

export interface PollResult {
  /** The database clock at the poll, epoch ms. */
  readonly dbNowMs: number;
  /** Earliest valid active slot due within the look-ahead (may already be due), or null. */
  readonly nextSlotMs: number | null;
  /** Valid active rows due now (capped at {@link BACKLOG_CAP}). */
  readonly dueCount: number;
}

/**
 * The due count stops here: it is a gauge for alerts, and counting a 100,000-row backlog takes
 * ~130 ms, which a blocked or backlogged scheduler would pay at every poll.
 */
export const BACKLOG_CAP = 10_000;

// Type oids for array parameters: postgres.js cannot infer an element type from a JS array.
const BOOL = 16;
const INT4 = 23;
const TEXT = 25;
const FLOAT8 = 701;

/**
 * The optional columns of SPEC §2 that this database has. Without them no statement names
 * them: the SQL is the interval-only SQL of before.
 */
export interface ScheduleColumns {
  readonly cronExpression: boolean;
  readonly timezone: boolean;
}

export const NO_CRON_COLUMNS: ScheduleColumns = Object.freeze({ cronExpression: false, timezone: false });

/** Which optional columns `scheduled_workflows` has (as the session's search_path finds it). */
export async function scheduleColumns(sql: Sql): Promise<ScheduleColumns> {
  const rows = await sql<{ name: string }[]>`
    SELECT a.attname AS name FROM pg_attribute a
     WHERE a.attrelid = to_regclass('scheduled_workflows') AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname IN ('cron_expression', 'timezone')`;
  const names = new Set(rows.map((row) => row.name));
  return { cronExpression: names.has("cron_expression"), timezone: names.has("cron_expression") && names.has("timezone") };
}

/** `sw.cron_expression` and `sw.timezone` as text, or NULLs when the columns are absent. */
export function cronFields(sql: Sql, columns: ScheduleColumns) {
  const expression = columns.cronExpression ? sql`sw.cron_expression::text` : sql`NULL::text`;
  const zone = columns.timezone ? sql`sw.timezone::text` : sql`NULL::text`;
  return sql`${expression} AS cron_expression, ${zone} AS timezone`;
}

/**
 * THE definition of a row the engine may claim (with `JOIN workflows w`): active, scheduled (a
 * cron expression, or else a positive interval), a finite `next_run_at` (NULL fails `isfinite`),
 * and not skipped: set aside by this process, or a cron row whose expression or zone the engine's
 * own parser refused (SQL cannot judge those; see {@link findInvalid}).
 * `'-infinity'` would otherwise sort first and have no next slot; `'infinity'` is never due.
 * Every statement that claims, counts or times due rows uses this one fragment.
 */
export function claimable(sql: Sql, skipIds: readonly number[] = [], columns: ScheduleColumns = NO_CRON_COLUMNS) {
  const scheduled = columns.cronExpression ? sql`(sw.cron_expression IS NOT NULL OR sw.interval_seconds > 0)` : sql`sw.interval_seconds > 0`;
  return sql`sw.is_active AND ${scheduled} AND isfinite(sw.next_run_at)
    AND sw.id <> ALL(${sql.array(skipIds as number[], INT4)}::int4[])`;
}

export async function poll(sql: Sql, lookAheadMs: number, skipIds: readonly number[] = [], columns: ScheduleColumns = NO_CRON_COLUMNS): Promise<PollResult> {
  const [row] = await sql<{ db_now_ms: number; next_slot_ms: number | null; due_count: number }[]>`
    SELECT (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms,
      (SELECT (extract(epoch FROM sw.next_run_at) * 1000)::float8
         FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
        WHERE ${claimable(sql, skipIds, columns)}
          AND sw.next_run_at <= now() + make_interval(secs => ${lookAheadMs / 1000})
        ORDER BY sw.next_run_at LIMIT 1) AS next_slot_ms,
      (SELECT count(*)::int FROM (
         SELECT 1 FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
          WHERE ${claimable(sql, skipIds, columns)} AND sw.next_run_at <= now()
          LIMIT ${BACKLOG_CAP}) due) AS due_count`;
  return { dbNowMs: row!.db_now_ms, nextSlotMs: row!.next_slot_ms, dueCount: row!.due_count };
}

/** What one claim asks for. */
export interface ClaimRequest {
  /** Rows to lock at most (SCHEDULER_BATCH_SIZE). */
  readonly limit: number;
  /**
   * Message bytes to hold at most (SCHEDULER_BATCH_BYTES), counted as `workflow_data` text plus
   * {@link MESSAGE_OVERHEAD_BYTES} a row. The first row is always taken, however large.
   */
  readonly budgetBytes?: number;
  /** Rows this process has set aside (see the engine's quarantine): never claimed. */
  readonly skipIds?: readonly number[];
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
export async function claimDue(sql: Sql, request: ClaimRequest): Promise<Claimed> {
  const budget = request.budgetBytes ?? Number.MAX_SAFE_INTEGER;
  const columns = request.columns ?? NO_CRON_COLUMNS;
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
      db_now_ms: number;
      locked: number;
    }[]
  >`
    SELECT id, workflow_id, slot_ms, interval_seconds, cron_expression, timezone, run_count, failure_count, workflow_name, workflow_data,
           (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms, locked
      FROM (SELECT c.*, count(*) OVER ()::int AS locked,
                   sum(coalesce(octet_length(c.workflow_data), 0) + ${MESSAGE_OVERHEAD_BYTES})
                     OVER (ORDER BY c.next_run_at, c.id) AS running,
                   row_number() OVER (ORDER BY c.next_run_at, c.id) AS rn
              FROM (SELECT sw.id, sw.workflow_id, sw.next_run_at,
                           (extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms,
                           coalesce(sw.interval_seconds, 0) AS interval_seconds, ${cronFields(sql, columns)},
                           coalesce(sw.run_count, 0) AS run_count,
                           coalesce(sw.failure_count, 0) AS failure_count,
                           w.name AS workflow_name, w.workflow_data::text AS workflow_data
                      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
                     WHERE ${claimable(sql, request.skipIds, columns)} AND sw.next_run_at <= now()
                     ORDER BY sw.next_run_at
                     LIMIT ${request.limit}
                       FOR NO KEY UPDATE OF sw SKIP LOCKED) c) r
     WHERE rn = 1 OR running <= ${budget}
     ORDER BY rn`;
  return {
    // Every row carries the same transaction time; with no row there is nothing to time.
    dbNowMs: rows[0]?.db_now_ms ?? Number.NaN,
    locked: rows[0]?.locked ?? 0,
    rows: rows.map((r) => ({
      id: r.id,
      workflowId: r.workflow_id,
      slotMs: r.slot_ms,
      intervalSeconds: r.interval_seconds,
      ...(r.cron_expression !== null ? { cronExpression: r.cron_expression, timezone: r.timezone } : {}),
      runCount: r.run_count,
      failureCount: r.failure_count,
      workflowName: r.workflow_name,
      workflowData: r.workflow_data,
    })),
  };
}

/** Writes every row's outcome in one statement (SPEC §4 "Outcome per row"). */
export async function recordOutcomes(sql: Sql, updates: readonly RowUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const ids = updates.map((u) => u.id);
  const next = updates.map((u) => u.nextMs);
  const outcomes = updates.map((u) => u.outcome);
  const errors = updates.map((u) => u.error);
  const pauses = updates.map((u) => u.pause);
  await sql`
    UPDATE scheduled_workflows sw SET
      next_run_at   = to_timestamp(u.next_ms / 1000.0),
      last_run_at   = CASE WHEN u.outcome = 'skipped' THEN sw.last_run_at ELSE now() END,
      run_count     = CASE WHEN u.outcome = 'skipped' THEN sw.run_count ELSE coalesce(sw.run_count, 0) + 1 END,
      failure_count = CASE u.outcome WHEN 'ok' THEN 0
                                     WHEN 'failed' THEN coalesce(sw.failure_count, 0) + 1
                                     ELSE sw.failure_count END,
      last_error    = u.error,
      is_active     = sw.is_active AND NOT u.pause,
      updated_at    = now()
    FROM unnest(${sql.array(ids, INT4)}::int4[], ${sql.array(next, FLOAT8)}::float8[],
                ${sql.array(outcomes, TEXT)}::text[], ${sql.array(errors as string[], TEXT)}::text[],
                ${sql.array(pauses, BOOL)}::bool[])
      AS u(id, next_ms, outcome, error, pause)
    WHERE sw.id = u.id`;
}

/**
 * The fallback for a row whose full write-back the database rejected (a trigger, a constraint,
 * `run_count` at the int4 limit): move it on and say why, so it does not fire again at once.
 */
export async function recordMoveOn(sql: Sql, update: RowUpdate, reason: string): Promise<void> {
  await sql`
    UPDATE scheduled_workflows SET next_run_at = to_timestamp(${update.nextMs} / 1000.0),
           last_error = ${`rune-scheduler could not record this fire (${update.outcome}): ${reason}`}
     WHERE id = ${update.id}`;
}

/** A row whose outcome could not be written as planned. */
export interface RejectedRow {
  readonly id: number;
  readonly reason: string;
  /** True when {@link recordMoveOn} saved it; false when even that failed (the row is untouched). */
  readonly movedOn: boolean;
}

/**
 * Writes every outcome, isolating a row the database refuses. ORDER MATTERS: the batch UPDATE
 * runs under a savepoint, so a refusal caused by one row rolls back only that statement and
 * the rows whose messages were confirmed are still recorded in this transaction; published
 * messages are never left unrecorded because of another row (they would be published again).
 * Connection errors are rethrown untouched (the caller must then issue no statement at all).
 */
export async function recordIsolated(sql: Sql, updates: readonly RowUpdate[]): Promise<RejectedRow[]> {
  if (await underSavepoint(sql, (savepoint) => recordOutcomes(savepoint, updates))) return [];
  const rejected: RejectedRow[] = [];
  for (const update of updates) {
    let reason = "";
    if (await underSavepoint(sql, (savepoint) => recordOutcomes(savepoint, [update]), (why) => (reason = why))) continue;
    const movedOn = await underSavepoint(sql, (savepoint) => recordMoveOn(savepoint, update, reason));
    rejected.push({ id: update.id, reason, movedOn });
  }
  return rejected;
}

/**
 * Runs `work` under a savepoint: true if it succeeded, false (rolled back to it) on an SQL error.
 * It must be postgres.js's own `savepoint`: inside `begin`, any failed query of the scope fails
 * the whole transaction at its end, even one the caller caught; a savepoint is a scope of its own.
 */
async function underSavepoint(sql: Sql, work: (sql: Sql) => Promise<void>, onError?: (reason: string) => void): Promise<boolean> {
  try {
    await (sql as unknown as TransactionSql).savepoint((savepoint) => work(savepoint as unknown as Sql));
    return true;
  } catch (error) {
    if (isConnectionError(error)) throw error;
    onError?.((error as Error).message);
    return false;
  }
}

export type InvalidReason =
  | "workflow missing"
  | "interval_seconds is NULL"
  | "interval_seconds <= 0"
  | "next_run_at is NULL"
  | "next_run_at is not finite";

export interface InvalidRow {
  readonly id: number;
  /** One of {@link InvalidReason}, or for a cron row the parser's own reason. */
  readonly reason: InvalidReason | string;
}

/** Active rows the engine will never claim, with why. Bounded: this scans the table. */
export async function findInvalid(sql: Sql, limit = 1000, columns: ScheduleColumns = NO_CRON_COLUMNS): Promise<InvalidRow[]> {
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
export async function invalidCronRows(sql: Sql, limit = 1000, columns: ScheduleColumns = NO_CRON_COLUMNS): Promise<InvalidCronRow[]> {
  if (!columns.cronExpression) return [];
  const zone = columns.timezone ? sql`sw.timezone::text` : sql`NULL::text`;
  const kinds = await sql<{ cron_expression: string; timezone: string | null }[]>`
    SELECT DISTINCT sw.cron_expression::text AS cron_expression, ${zone} AS timezone
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.is_active AND sw.cron_expression IS NOT NULL AND isfinite(sw.next_run_at)`;
  const bad = new Map<string, { expression: string; zone: string | null; reason: string }>();
  for (const kind of kinds) {
    const found = scheduleOf({ intervalSeconds: null, cronExpression: kind.cron_expression, timezone: kind.timezone });
    if (!found.ok) bad.set(`${kind.cron_expression}\u0000${kind.timezone ?? ""}`, { expression: kind.cron_expression, zone: kind.timezone, reason: found.reason });
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
    reason: bad.get(`${r.cron_expression}\u0000${r.timezone ?? ""}`)!.reason,
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

/** A cheap round trip that fails fast when the server is gone. */
export async function ping(sql: Sql): Promise<void> {
  await sql`SELECT 1`;
}

/** What a transaction callback returns once its connection is gone: a promise that never settles. */
const stranded = () => new Promise<never>(() => {});

/** What one claim transaction did. */
export interface BatchResult {
  /** Rows claimed and handed to `fire`. */
  readonly claimed: number;
  /** Rows locked: more than `claimed` when the byte budget cut the batch (more are due). */
  readonly locked: number;
  /** Rows whose outcome the database refused to record as planned (see {@link recordIsolated}). */
  readonly rejected: readonly RejectedRow[];
}

/** SQLSTATE 55P03: `lock_timeout` ran out (SESSION_LIMITS.lockTimeoutMs). */
export const LOCK_NOT_AVAILABLE = "55P03";

/**
 * One claim transaction. ORDER MATTERS: the table lock the UPDATE needs is taken first, then the
 * rows are locked, `fire` publishes them and waits for the broker, and only then are the
 * outcomes written and the transaction committed; a crash at any point before the commit
 * leaves every row due again (at-least-once, same message ids).
 *
 * THE TABLE LOCK FIRST: row locks (`FOR NO KEY UPDATE`) are granted under a SHARE lock (a plain
 * CREATE INDEX), but the UPDATE is not; without this, a batch would be published, its UPDATE
 * would wait until the statement timeout, roll back, and be published again. Taking ROW
 * EXCLUSIVE (what the UPDATE takes anyway) before claiming means nothing is published that
 * cannot be recorded: under such a lock the LOCK waits `lock_timeout` and fails with 55P03,
 * having claimed and published nothing, and the engine tries again.
 *
 * CONNECTION LOSS: once the connection is gone (closed, or silent past `deadlineMs` in a
 * statement), the callback must issue NO further statement, not even the ROLLBACK postgres.js
 * sends when a callback throws: postgres.js 3.4.9 writes it to the dead socket from a timer, and
 * that TypeError cannot be caught and ends the process (porsager/postgres#1208). So the callback
 * is stranded (left pending; nothing refers to it, so it is collected) and this function rejects
 * with the connection error. The server rolls the transaction back when the session ends.
 */
export async function claimBatch(
  sql: Sql,
  request: ClaimRequest,
  fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>,
  deadlineMs: number = SESSION_LIMITS.statementDeadlineMs,
): Promise<BatchResult> {
  let lost = false;
  let giveUp!: (error: Error) => void;
  const gaveUp = new Promise<never>((_, reject) => (giveUp = reject));
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const watch = (what: string) => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      lost = true;
      giveUp(new StatementDeadlineError(what, deadlineMs));
    }, deadlineMs);
  };
  const step = async <T>(statement: Promise<T>): Promise<T> => {
    try {
      const value = await statement;
      if (!lost) return value;
    } catch (error) {
      if (!lost && (!isConnectionError(error) || isSessionAlive(error))) throw error;
      lost = true;
    }
    return stranded();
  };

  watch("BEGIN, locking and claiming due rows");
  const transaction = sql.begin(async (tx) => {
    const txSql = tx as unknown as Sql;
    // Pipelined: one round trip. `execute()` sends the LOCK now, before the claim (postgres.js
    // sends a query only once awaited); if the LOCK fails, the claim fails with it.
    const tableLock = txSql`LOCK TABLE scheduled_workflows IN ROW EXCLUSIVE MODE`.execute();
    const claim = claimDue(txSql, request);
    claim.catch(() => {}); // its error is the lock's when the lock fails; awaited below otherwise
    await step(tableLock);
    const { rows, dbNowMs, locked } = await step(claim);
    if (rows.length === 0) return { claimed: 0, locked, rejected: [] };
    // Publishing has its own bound (the broker's confirm deadline).
    clearTimeout(watchdog);
    let updates: RowUpdate[];
    try {
      updates = await fire(rows, dbNowMs);
    } catch (error) {
      if (lost) return stranded();
      throw error;
    }
    if (lost) return stranded();
    watch("recording outcomes and COMMIT");
    const rejected = await step(recordIsolated(txSql, updates));
    return { claimed: rows.length, locked, rejected };
  });
  // postgres.js rejects `begin` as soon as the connection closes, even while `fire` still runs.
  transaction.catch(() => (lost = true));
  try {
    return await Promise.race([transaction, gaveUp]);
  } finally {
    clearTimeout(watchdog);
  }
}

/**
 * The engine's view of the database. Every statement has a deadline; a connection failure
 * retires the pool (see {@link RenewablePool}) and the engine's next call gets a fresh one.
 *
 * The optional cron columns are detected at the first statement (start-up), again at every
 * invalid-row scan, and after a statement named a column that is gone (42703). Cron rows whose
 * expression or zone does not compile are skipped by every poll and claim: the scan lists them
 * (the engine warns once, with the parser's reason), and a claim that meets one first (the
 * first claim, or a row changed since the scan) leaves it untouched and skips it from then on.
 */
export function createEngineStore(pool: RenewablePool, deadlineMs: number = SESSION_LIMITS.statementDeadlineMs) {
  const statement = <T>(what: string, work: (sql: Sql) => Promise<T>) =>
    pool.use((sql) => withDeadline(what, work(sql), deadlineMs));
  let columns: Promise<ScheduleColumns> | null = null;
  const detect = (sql: Sql): Promise<ScheduleColumns> =>
    (columns ??= scheduleColumns(sql).catch((error: unknown) => {
      columns = null;
      throw error;
    }));
  /** Statements that name the optional columns: a 42703 means they changed under us. */
  const withColumns = async <T>(sql: Sql, work: (found: ScheduleColumns) => Promise<T>): Promise<T> => {
    const found = await withDeadline("detecting the optional cron columns", detect(sql), deadlineMs);
    try {
      return await work(found);
    } catch (error) {
      if ((error as { code?: unknown }).code === UNDEFINED_COLUMN) columns = null;
      throw error;
    }
  };
  let badCron = new Set<number>();
  const skip = (ids: readonly number[] = []) => (badCron.size === 0 ? ids : [...ids, ...badCron]);
  const plannable = (row: ClaimedRow) => {
    if ((row.cronExpression ?? null) === null || scheduleOf(row).ok) return true;
    badCron.add(row.id);
    return false;
  };
  return {
    ping: () => statement("ping", ping),
    poll: (lookAheadMs: number, skipIds?: readonly number[]) =>
      statement("polling", (sql) => withColumns(sql, (found) => poll(sql, lookAheadMs, skip(skipIds), found))),
    claimBatch: (request: ClaimRequest, fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>) =>
      pool.use((sql) =>
        withColumns(sql, (found) =>
          claimBatch(sql, { ...request, skipIds: skip(request.skipIds), columns: found }, (rows, dbNowMs) => fire(rows.filter(plannable), dbNowMs), deadlineMs),
        ),
      ),
    findInvalid: () =>
      statement("looking for invalid rows", async (sql) => {
        columns = null;
        const found = await withColumns(sql, (present) => findInvalid(sql, 1000, present));
        badCron = new Set(found.filter((row) => "cronExpression" in row).map((row) => row.id));
        return found;
      }),
    countPaused: () => statement("counting paused schedules", countPaused),
  };
}

/** SQLSTATE 42703: a statement named a column that does not exist. */
const UNDEFINED_COLUMN = "42703";
