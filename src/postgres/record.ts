/**
 * Writing a claim's outcomes back (docs/design.md §10, §14): one
 * statement for the batch, and a row the database refuses isolated under a savepoint.
 */
import type { TransactionSql } from "postgres";
import type { RejectedRow } from "../engine/ports.ts";
import type { RowUpdate } from "../schedule/plan.ts";
import type { Sql } from "./client.ts";
import { type FireHistoryTarget, moveOnWithHistory, recordWithHistory } from "./fire-history.ts";
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
    UPDATE scheduled_workflows sw SET
      next_run_at   = to_timestamp(u.next_ms / 1000.0),
      last_run_at   = now(),
      run_count     = coalesce(sw.run_count, 0) + 1,
      failure_count = 0,
      last_error    = NULL,
      is_active     = sw.is_active,
      updated_at    = now()
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

/** A row whose outcome could not be written as planned. */
/**
 * Writes every outcome, isolating a row the database refuses. ORDER MATTERS: the batch UPDATE
 * runs under a savepoint, so a refusal caused by one row rolls back only that statement and
 * the rows whose messages were confirmed are still recorded in this transaction; published
 * messages are never left unrecorded because of another row (they would be published again).
 * Connection errors are rethrown untouched (the caller must then issue no statement at all).
 */
export async function recordIsolated(
  sql: Sql,
  updates: readonly RowUpdate[],
  history: FireHistoryTarget | null = null,
): Promise<RejectedRow[]> {
  if (await underSavepoint(sql, (savepoint) => recordOutcomes(savepoint, updates, history))) return [];
  const rejected: RejectedRow[] = [];
  for (const update of updates) {
    let reason = "";
    if (
      await underSavepoint(
        sql,
        (savepoint) => recordOutcomes(savepoint, [update], history),
        (why) => (reason = why),
      )
    )
      continue;
    const movedOn = await underSavepoint(sql, (savepoint) => recordMoveOn(savepoint, update, reason, history));
    rejected.push({ id: update.id, reason, movedOn });
  }
  return rejected;
}

/**
 * Runs `work` under a savepoint: true if it succeeded, false (rolled back to it) on an SQL error.
 * It must be postgres.js's own `savepoint`: inside `begin`, any failed query of the scope fails
 * the whole transaction at its end, even one the caller caught; a savepoint is a scope of its own.
 */
async function underSavepoint(
  sql: Sql,
  work: (sql: Sql) => Promise<void>,
  onError?: (reason: string) => void,
): Promise<boolean> {
  try {
    await (sql as unknown as TransactionSql).savepoint((savepoint) => work(savepoint as unknown as Sql));
    return true;
  } catch (error) {
    if (!isRowError(error)) throw error;
    onError?.((error as Error).message);
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
