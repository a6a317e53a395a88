/**
 * Writing a claim's outcomes back (docs/design.md §10, §14): one
 * statement for the batch, and a row the database refuses isolated under a savepoint.
 */
import postgres, { type TransactionSql } from "postgres";
import type { RejectedRow } from "../engine/ports.ts";
import type { RowUpdate } from "../schedule/plan.ts";
import { isConnectionError, type Sql } from "./client.ts";
import { type FireHistoryTarget, moveOnWithHistory, recordWithHistory } from "./fire-history.ts";
import { outcomeSet, successSet } from "./outcome-set.ts";
import { BOOL, FLOAT8, INT4, TEXT } from "./types.ts";

/** Writes every row's outcome in one statement (docs/design.md §10), with its fire history when there is a table for it. */
export async function recordOutcomes(
  sql: Sql,
  updates: readonly RowUpdate[],
  history: FireHistoryTarget | null = null,
): Promise<void> {
  if (updates.length === 0) return;
  if (history) return recordWithHistory(sql, updates, history);
  if (updates.every(isPlainSuccess)) return recordSuccesses(sql, updates);
  const ids = updates.map((u) => u.id);
  const next = updates.map((u) => u.nextMs);
  const outcomes = updates.map((u) => u.outcome);
  const errors = updates.map((u) => u.error);
  const pauses = updates.map((u) => u.pause);
  await sql`
    UPDATE scheduled_workflows sw SET ${outcomeSet(sql)}
    FROM unnest(${sql.array(ids, INT4)}::int4[], ${sql.array(next, FLOAT8)}::float8[],
                ${sql.array(outcomes, TEXT)}::text[], ${sql.array(errors as string[], TEXT)}::text[],
                ${sql.array(pauses, BOOL)}::bool[])
      AS u(id, next_ms, outcome, error, pause)
    WHERE sw.id = u.id`;
}

/** Confirmed, nothing to say and nothing to pause: what almost every fire is. */
const isPlainSuccess = (u: RowUpdate) => u.outcome === "ok" && u.error === null && !u.pause;

/**
 * {@link recordOutcomes} when every row is a plain success: the same columns set to the same
 * values (the "ok" arm of each CASE there; a trigger on any of them fires as before), from two
 * arrays instead of five. The arrays go as array literals: integers
 * and finite float8s, which JavaScript writes exactly (shortest round-trip form).
 */
async function recordSuccesses(sql: Sql, updates: readonly RowUpdate[]): Promise<void> {
  let ids = "";
  let next = "";
  for (const u of updates) {
    ids += `${ids === "" ? "" : ","}${u.id}`;
    next += `${next === "" ? "" : ","}${u.nextMs}`;
  }
  await sql`
    UPDATE scheduled_workflows sw SET ${successSet(sql)}
    FROM unnest(${`{${ids}}`}::int4[], ${`{${next}}`}::float8[]) AS u(id, next_ms)
    WHERE sw.id = u.id`;
}

/**
 * The fallback for a row whose full write-back the database rejected (a trigger, a constraint,
 * `run_count` at the int4 limit): move it on and say why, so it does not fire again at once.
 */
async function recordMoveOn(
  sql: Sql,
  update: RowUpdate,
  reason: string,
  history: FireHistoryTarget | null,
): Promise<void> {
  const lastError = `rune-scheduler could not record this fire (${update.outcome}): ${reason}`;
  if (history) return moveOnWithHistory(sql, update, lastError, history);
  await sql`
    UPDATE scheduled_workflows SET next_run_at = to_timestamp(${update.nextMs} / 1000.0), last_error = ${lastError}
     WHERE id = ${update.id}`;
}

/** What {@link recordIsolated} wrote: the rows refused, and the fires left out of the history. */
export interface Recorded {
  readonly rejected: RejectedRow[];
  /** Why some of these fires have no history row (their rows record them); null: none left out. */
  readonly historyLost: string | null;
  /** How many fires have no history row because of it. */
  readonly historyLostRows: number;
}

/**
 * Writes every outcome, isolating a row the database refuses. ORDER MATTERS: the batch UPDATE
 * runs under a savepoint, so a refusal caused by one row rolls back only that statement and
 * the rows whose messages were confirmed are still recorded in this transaction; published
 * messages are never left unrecorded because of another row (they would be published again).
 * Connection errors are rethrown untouched (the caller must then issue no statement at all).
 *
 * THE HISTORY NEVER STOPS A FIRE: a history table dropped, locked (a VACUUM FULL), its INSERT
 * revoked, or a constraint added to it fails the combined statement for every row. The batch is
 * then written without its history (and the caller told why): a published message left
 * unrecorded would be published again at every poll, and a row refused would be set aside.
 */
export async function recordIsolated(
  sql: Sql,
  updates: readonly RowUpdate[],
  history: FireHistoryTarget | null = null,
): Promise<Recorded> {
  const none = { rejected: [], historyLost: null, historyLostRows: 0 };
  let failure = "";
  let rowFailure = false;
  const batch = (target: FireHistoryTarget | null) => (savepoint: Sql) => recordOutcomes(savepoint, updates, target);
  const failed = (why: string, error: unknown) => {
    failure = why;
    rowFailure = isRowError(error);
  };
  if (await underSavepoint(sql, batch(history), failed, history ? isStatementError : isRowError)) return none;
  if (history === null) return eachAlone(sql, updates, null);
  if (await underSavepoint(sql, batch(null)))
    return { rejected: [], historyLost: failure, historyLostRows: updates.length };
  // Not the history alone: a row's own refusal (its trigger, its constraint). Each row alone,
  // still with its history row, unless the history's failure was not a row's.
  if (rowFailure) return eachAlone(sql, updates, history);
  const alone = await eachAlone(sql, updates, null);
  const recorded = updates.length - alone.rejected.filter((row) => !row.movedOn).length;
  return { rejected: alone.rejected, historyLost: failure, historyLostRows: recorded };
}

/**
 * Each row in its own savepoint: its full write-back, else its move-on; each with its history
 * row, else without it (then counted as left out of the history).
 */
async function eachAlone(
  sql: Sql,
  updates: readonly RowUpdate[],
  history: FireHistoryTarget | null,
): Promise<Recorded> {
  const rejected: RejectedRow[] = [];
  let historyLost: string | null = null;
  let historyLostRows = 0;
  const catches = history ? isStatementError : isRowError;
  for (const update of updates) {
    let reason = "";
    const full = (target: FireHistoryTarget | null) => (savepoint: Sql) => recordOutcomes(savepoint, [update], target);
    if (await underSavepoint(sql, full(history), (why) => (reason = why), catches)) continue;
    if (history) {
      const historyReason = reason;
      if (await underSavepoint(sql, full(null), (why) => (reason = why))) {
        historyLost ??= historyReason;
        historyLostRows += 1;
        continue;
      }
    }
    let historyReason = "";
    const moveOn = (target: FireHistoryTarget | null) => (savepoint: Sql) =>
      recordMoveOn(savepoint, update, reason, target);
    let movedOn = await underSavepoint(sql, moveOn(history), (why) => (historyReason = why), catches);
    if (!movedOn && history) {
      movedOn = await underSavepoint(sql, moveOn(null));
      if (movedOn) {
        historyLost ??= historyReason;
        historyLostRows += 1;
      }
    }
    rejected.push({ id: update.id, reason, movedOn });
  }
  return { rejected, historyLost, historyLostRows };
}

/**
 * Runs `work` under a savepoint: true if it succeeded, false (rolled back to it) on an SQL error.
 * It must be postgres.js's own `savepoint`: inside `begin`, any failed query of the scope fails
 * the whole transaction at its end, even one the caller caught; a savepoint is a scope of its own.
 */
async function underSavepoint(
  sql: Sql,
  work: (sql: Sql) => Promise<void>,
  onError?: (reason: string, error: unknown) => void,
  catches: (error: unknown) => boolean = isRowError,
): Promise<boolean> {
  try {
    await (sql as unknown as TransactionSql).savepoint((savepoint) => work(savepoint as unknown as Sql));
    return true;
  } catch (error) {
    if (!catches(error)) throw error;
    onError?.((error as Error).message, error);
    return false;
  }
}

/**
 * SQLSTATE classes an UPDATE of one row can fail with because of that row's values or the rules
 * around it: 22 data exception (a value out of range), 23 integrity constraint, P0 an error
 * raised by a trigger, 39 / 2F an external or SQL routine (a trigger function) failing. Anything
 * else (a full disk 53xxx, an I/O error 58xxx, a cancelled statement 57014, a lost connection)
 * is the database's, not the row's: it fails the whole transaction, so the rows fire again.
 */
export function isRowError(error: unknown): boolean {
  const code = String((error as { code?: unknown })?.code ?? "");
  return /^(22|23|P0|39|2F)/.test(code);
}

/**
 * What a statement naming the history table can fail with while the session and the transaction
 * (under a savepoint) stay usable: an error the server raised for that statement, beyond
 * {@link isRowError}'s, e.g. 42P01 the table dropped, 42501 its INSERT revoked, 42703 a column
 * gone, 55P03 the table locked past lock_timeout, 40P01 a deadlock. Not the database's own
 * failures, which fail the transaction as before: a lost session (isConnectionError), 53
 * insufficient resources, 57 a cancelled statement or a shutdown, 58 an I/O error, XX internal.
 */
export function isStatementError(error: unknown): boolean {
  if (isRowError(error)) return true;
  if (!(error instanceof postgres.PostgresError) || isConnectionError(error)) return false;
  const code = String((error as { code?: unknown })?.code ?? "");
  return /^[0-9A-Z]{5}$/.test(code) && !/^(53|57|58|XX|F0)/.test(code);
}
