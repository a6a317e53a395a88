/**
 * The operator audit (docs/contract.md §10): one row per action, written in the transaction of
 * the change it describes, where the table exists (a bulk action's rows in one statement); and a
 * manual trigger's fire history row.
 */

import type { Sql } from "./client.ts";
import { type HistoryTables, historyTables } from "./history-tables.ts";
import { TEXT } from "./types.ts";

/** Who acted: `cli <OS user>`, or `console <address> <token label>`. */
export interface AuditActor {
  readonly actor: string;
  readonly source: "cli" | "console";
}

export interface AuditEntry {
  readonly action: string;
  readonly scheduleIds: readonly number[];
  readonly reason: string | null;
  /** What it did, in the verb's words. */
  readonly outcome: string;
  readonly detail?: Record<string, unknown>;
}

/**
 * The history writes of ONE transaction: the tables looked up once (not once a row: a bulk verb
 * over 10,000 rows would make 10,000 more round trips), and the audit rows of the action queued
 * and written together by {@link TransactionHistory.flush}, in one statement, before the commit.
 */
export class TransactionHistory {
  #tables: Promise<HistoryTables> | null = null;
  readonly #audit: AuditEntry[] = [];

  constructor(
    readonly sql: Sql,
    readonly who: AuditActor | null | undefined,
  ) {}

  /** Which history tables exist and may be written, as the first use in this transaction found them. */
  tables(): Promise<HistoryTables> {
    this.#tables ??= historyTables(this.sql);
    return this.#tables;
  }

  /** Queues an audit row (none without an actor to name). */
  audit(entry: AuditEntry): void {
    if (this.who) this.#audit.push(entry);
  }

  /** Writes the queued audit rows, where there is a table for them, in one statement, in the order queued. */
  async flush(): Promise<void> {
    const who = this.who;
    const entries = this.#audit.splice(0);
    if (!who || entries.length === 0 || !(await this.tables()).auditWritable) return;
    const actions = entries.map((e) => e.action);
    // Each row's ids as an int4[] literal: unnest would flatten an array of arrays.
    const ids = entries.map((e) => `{${e.scheduleIds.join(",")}}`);
    const reasons = entries.map((e) => e.reason);
    const outcomes = entries.map((e) => e.outcome);
    const details = entries.map((e) => (e.detail === undefined ? null : JSON.stringify(e.detail)));
    await this.sql`
      INSERT INTO scheduler_audit (actor, source, action, schedule_ids, reason, outcome, detail)
      SELECT ${who.actor}, ${who.source}, e.action, e.ids::int4[], e.reason, e.outcome, e.detail::jsonb
        FROM unnest(${this.sql.array(actions, TEXT)}::text[], ${this.sql.array(ids, TEXT)}::text[],
                    ${this.sql.array(reasons as string[], TEXT)}::text[], ${this.sql.array(outcomes, TEXT)}::text[],
                    ${this.sql.array(details as string[], TEXT)}::text[])
          WITH ORDINALITY AS e(action, ids, reason, outcome, detail, n)
       ORDER BY e.n`;
  }
}

/**
 * Runs `body` with the history writes of transaction `tx`, then writes its queued audit rows
 * (still inside `tx`: they commit or roll back with the change they describe).
 */
export async function withHistory<T>(
  tx: Sql,
  who: AuditActor | null | undefined,
  body: (history: TransactionHistory) => Promise<T>,
): Promise<T> {
  const history = new TransactionHistory(tx, who);
  const result = await body(history);
  await history.flush();
  return result;
}

/** Inserts one audit row when there is a table for it and an actor to name; else nothing. */
export function recordAudit(sql: Sql, who: AuditActor | null | undefined, entry: AuditEntry): Promise<void> {
  return withHistory(sql, who, async (history) => history.audit(entry));
}

/**
 * Takes the locks a manual trigger's history and audit inserts need, BEFORE it publishes: a
 * history table locked by another session (a VACUUM FULL) then fails the trigger with nothing
 * sent (55P03 after lock_timeout), not after its message went out, when the rollback would leave
 * a delivered message unrecorded and the operator told that nothing changed.
 */
export async function lockForManualFire(history: TransactionHistory): Promise<void> {
  const tables = await history.tables();
  if (tables.firesWritable) await history.sql`LOCK TABLE scheduler_fire_history IN ROW EXCLUSIVE MODE`;
  if (history.who && tables.auditWritable) await history.sql`LOCK TABLE scheduler_audit IN ROW EXCLUSIVE MODE`;
}

/**
 * A manual trigger is a fire the row counts (run_count + 1), so it has its history row too, in
 * the same transaction: slot and times are the trigger's, `replica` is who sent it.
 */
export async function recordManualFire(
  history: TransactionHistory,
  fire: { id: number; messageId: string; atMs: number; runNumber: number; sender: string },
): Promise<void> {
  if (!(await history.tables()).firesWritable) return;
  await history.sql`
    INSERT INTO scheduler_fire_history
      (schedule_id, slot, message_id, outcome, missed_runs, sent_at, confirmed_at, lag_seconds, replica, run_number)
    VALUES (${fire.id}, to_timestamp(${fire.atMs} / 1000.0), ${fire.messageId}, 'published', 0,
            to_timestamp(${fire.atMs} / 1000.0), clock_timestamp(), NULL, ${fire.sender}, ${fire.runNumber})`;
}
