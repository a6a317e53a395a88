/**
 * Every SQL statement the engine runs, one function each, `sql` first.
 *
 * Times cross the wire as epoch milliseconds computed by PostgreSQL (`extract(epoch …)`), which
 * is exact for both `timestamp` (read as UTC) and `timestamptz`, and never depends on the
 * host's time zone the way parsing a `timestamp` text in JavaScript would.
 */
import { isConnectionError, SESSION_LIMITS, StatementDeadlineError, withDeadline, type RenewablePool, type Sql } from "./db.ts";
import type { ClaimedRow } from "./message.ts";
import type { RowUpdate } from "./plan.ts";
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

export async function poll(sql: Sql, lookAheadMs: number): Promise<PollResult> {
  const [row] = await sql<{ db_now_ms: number; next_slot_ms: number | null; due_count: number }[]>`
    SELECT (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms,
      (SELECT (extract(epoch FROM sw.next_run_at) * 1000)::float8
         FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
        WHERE sw.is_active AND sw.interval_seconds > 0
          AND sw.next_run_at <= now() + make_interval(secs => ${lookAheadMs / 1000})
        ORDER BY sw.next_run_at LIMIT 1) AS next_slot_ms,
      (SELECT count(*)::int FROM (
         SELECT 1 FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
          WHERE sw.is_active AND sw.interval_seconds > 0 AND sw.next_run_at <= now()
          LIMIT ${BACKLOG_CAP}) due) AS due_count`;
  return { dbNowMs: row!.db_now_ms, nextSlotMs: row!.next_slot_ms, dueCount: row!.due_count };
}

/**
 * Locks up to `limit` due rows for this transaction. Rows another scheduler holds are skipped,
 * and invalid rows (no workflow, interval NULL or ≤ 0, next_run_at NULL) never match.
 */
export async function claimDue(sql: Sql, limit: number): Promise<{ dbNowMs: number; rows: ClaimedRow[] }> {
  const rows = await sql<
    {
      id: number;
      workflow_id: number;
      slot_ms: number;
      interval_seconds: number;
      run_count: number;
      failure_count: number;
      workflow_name: string | null;
      workflow_data: string | null;
      db_now_ms: number;
    }[]
  >`
    SELECT sw.id, sw.workflow_id, (extract(epoch FROM sw.next_run_at) * 1000)::float8 AS slot_ms,
           sw.interval_seconds, coalesce(sw.run_count, 0) AS run_count,
           coalesce(sw.failure_count, 0) AS failure_count,
           w.name AS workflow_name, w.workflow_data::text AS workflow_data,
           (extract(epoch FROM now()) * 1000)::float8 AS db_now_ms
      FROM scheduled_workflows sw JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.is_active AND sw.interval_seconds > 0 AND sw.next_run_at <= now()
     ORDER BY sw.next_run_at
     LIMIT ${limit}
       FOR UPDATE OF sw SKIP LOCKED`;
  return {
    // Every row carries the same transaction time; with no row there is nothing to time.
    dbNowMs: rows[0]?.db_now_ms ?? Number.NaN,
    rows: rows.map((r) => ({
      id: r.id,
      workflowId: r.workflow_id,
      slotMs: r.slot_ms,
      intervalSeconds: r.interval_seconds,
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

export type InvalidReason = "workflow missing" | "interval_seconds is NULL" | "interval_seconds <= 0" | "next_run_at is NULL";

export interface InvalidRow {
  readonly id: number;
  readonly reason: InvalidReason;
}

/** Active rows the engine will never claim, with why. Bounded: this scans the table. */
export async function findInvalid(sql: Sql, limit = 1000): Promise<InvalidRow[]> {
  return sql<InvalidRow[]>`
    SELECT sw.id, CASE
        WHEN w.id IS NULL THEN 'workflow missing'
        WHEN sw.interval_seconds IS NULL THEN 'interval_seconds is NULL'
        WHEN sw.interval_seconds <= 0 THEN 'interval_seconds <= 0'
        ELSE 'next_run_at is NULL' END AS reason
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id
     WHERE sw.is_active
       AND (w.id IS NULL OR sw.interval_seconds IS NULL OR sw.interval_seconds <= 0 OR sw.next_run_at IS NULL)
     ORDER BY sw.id
     LIMIT ${limit}`;
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

/**
 * One claim transaction. ORDER MATTERS: the rows are locked, `fire` publishes them and waits for
 * the broker, and only then are the outcomes written and the transaction committed; a crash at
 * any point before the commit leaves every row due again (at-least-once, same message ids).
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
  limit: number,
  fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>,
  deadlineMs: number = SESSION_LIMITS.statementDeadlineMs,
): Promise<number> {
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
      if (!lost && !isConnectionError(error)) throw error;
      lost = true;
    }
    return stranded();
  };

  watch("BEGIN and claiming due rows");
  const transaction = sql.begin(async (tx) => {
    const { rows, dbNowMs } = await step(claimDue(tx as unknown as Sql, limit));
    if (rows.length === 0) return 0;
    // Publishing has its own bound (the broker's confirm timeout).
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
    await step(recordOutcomes(tx as unknown as Sql, updates));
    return rows.length;
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
 */
export function createEngineStore(pool: RenewablePool, deadlineMs: number = SESSION_LIMITS.statementDeadlineMs) {
  const statement = <T>(what: string, work: (sql: Sql) => Promise<T>) =>
    pool.use((sql) => withDeadline(what, work(sql), deadlineMs));
  return {
    ping: () => statement("ping", ping),
    poll: (lookAheadMs: number) => statement("polling", (sql) => poll(sql, lookAheadMs)),
    claimBatch: (limit: number, fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>) =>
      pool.use((sql) => claimBatch(sql, limit, fire, deadlineMs)),
    findInvalid: () => statement("looking for invalid rows", (sql) => findInvalid(sql)),
    countPaused: () => statement("counting paused schedules", countPaused),
  };
}
