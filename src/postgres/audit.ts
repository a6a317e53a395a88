/**
 * The operator audit (docs/contract.md §10): one row per action, written in the transaction of
 * the change it describes, where the table exists; and a manual trigger's fire history row.
 */

import type { Sql } from "./client.ts";
import { historyTables } from "./history-tables.ts";
import { INT4 } from "./types.ts";

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

/** Inserts the audit row when there is a table for it and an actor to name; else nothing. */
export async function recordAudit(sql: Sql, who: AuditActor | null | undefined, entry: AuditEntry): Promise<void> {
  if (!who || !(await historyTables(sql)).auditWritable) return;
  await sql`
    INSERT INTO scheduler_audit (actor, source, action, schedule_ids, reason, outcome, detail)
    VALUES (${who.actor}, ${who.source}, ${entry.action}, ${sql.array(entry.scheduleIds as number[], INT4)}::int4[],
            ${entry.reason}, ${entry.outcome}, ${entry.detail === undefined ? null : sql.json(entry.detail as never)})`;
}

/**
 * A manual trigger is a fire the row counts (run_count + 1), so it has its history row too, in
 * the same transaction: slot and times are the trigger's, `replica` is who sent it.
 */
export async function recordManualFire(
  sql: Sql,
  fire: { id: number; messageId: string; atMs: number; runNumber: number; sender: string },
): Promise<void> {
  if (!(await historyTables(sql)).firesWritable) return;
  await sql`
    INSERT INTO scheduler_fire_history
      (schedule_id, slot, message_id, outcome, missed_runs, sent_at, confirmed_at, lag_seconds, replica, run_number)
    VALUES (${fire.id}, to_timestamp(${fire.atMs} / 1000.0), ${fire.messageId}, 'published', 0,
            to_timestamp(${fire.atMs} / 1000.0), clock_timestamp(), NULL, ${fire.sender}, ${fire.runNumber})`;
}
