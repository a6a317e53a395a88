/**
 * The engine's port to PostgreSQL (ports.ts EngineStore), over a renewable pool, with every
 * statement bounded. Every failure of its own leaves as a StoreFailure (src/postgres/failures.ts);
 * what the engine's `fire` callback throws passes through untouched.
 */

import type { ClaimRequest, EngineStore } from "../engine/ports.ts";
import { scheduleOf } from "../schedule/kinds.ts";
import type { ClaimedRow } from "../schedule/message.ts";
import type { RowUpdate } from "../schedule/plan.ts";
import { claimBatch } from "./claim-transaction.ts";
import { type RenewablePool, SESSION_LIMITS, type Sql, withDeadline } from "./client.ts";
import { storeFailure } from "./failures.ts";
import type { FireHistoryTarget } from "./fire-history.ts";
import { historyTables, UNDEFINED_TABLE } from "./history-tables.ts";
import { countPaused } from "./inactive-rows.ts";
import { findInvalid } from "./invalid-rows.ts";
import { ping, poll, type ScheduleColumns, scheduleColumns } from "./store.ts";

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
export function createEngineStore(
  pool: RenewablePool,
  deadlineMs: number = SESSION_LIMITS.statementDeadlineMs,
  replica: string | null = null,
): EngineStore {
  const translated = <T>(work: Promise<T>): Promise<T> =>
    work.catch((error: unknown) => {
      throw storeFailure(error);
    });
  const statement = <T>(what: string, work: (sql: Sql) => Promise<T>) =>
    translated(pool.use((sql) => withDeadline(what, work(sql), deadlineMs)));
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
  // The fire history table (docs/contract.md §10), detected with the columns and again after a 42P01.
  let history: Promise<FireHistoryTarget | null> | null = null;
  const detectHistory = (sql: Sql): Promise<FireHistoryTarget | null> =>
    (history ??= historyTables(sql).then(
      (found) => (found.firesWritable && replica !== null ? { replica } : null),
      (error: unknown) => {
        history = null;
        throw error;
      },
    ));
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
    claimBatch: (request: ClaimRequest, fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>) => {
      let fireFailure: unknown = null;
      const firing = (rows: ClaimedRow[], dbNowMs: number) =>
        fire(rows.filter(plannable), dbNowMs).catch((error: unknown) => {
          fireFailure = error;
          throw error;
        });
      return pool
        .use(async (sql) => {
          const target = await withDeadline("detecting the history table", detectHistory(sql), deadlineMs);
          return withColumns(sql, (found) =>
            claimBatch(sql, { ...request, skipIds: skip(request.skipIds), columns: found }, firing, deadlineMs, target),
          );
        })
        .catch((error: unknown) => {
          if ((error as { code?: unknown }).code === UNDEFINED_TABLE) history = null;
          // The engine's own failure (the broker, mid-batch) is not the database's.
          throw error === fireFailure ? error : storeFailure(error);
        });
    },
    findInvalid: () =>
      statement("looking for invalid rows", async (sql) => {
        columns = null;
        history = null;
        const found = await withColumns(sql, (present) => findInvalid(sql, 1000, present));
        badCron = new Set(found.filter((row) => "cronExpression" in row).map((row) => row.id));
        return found;
      }),
    countPaused: () => statement("counting paused schedules", countPaused),
  };
}

/** SQLSTATE 42703: a statement named a column that does not exist. */
const UNDEFINED_COLUMN = "42703";
