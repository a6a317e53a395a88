/** The fire history and audit tables (docs/contract.md §10) in a test database, and reading them back. */
import { resolve } from "node:path";
import type postgres from "postgres";

const MIGRATION = resolve(import.meta.dir, "../../scripts/migrations/004_history_tables.sql");

/** Runs the migration that creates the history tables, as an operator would. */
export async function addHistoryTables(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(await Bun.file(MIGRATION).text());
}

export interface HistoryRow {
  schedule_id: number;
  slot_ms: number;
  message_id: string | null;
  outcome: string;
  reason: string | null;
  missed_runs: number;
  sent_ms: number | null;
  confirmed_ms: number | null;
  lag_seconds: number | null;
  replica: string;
  run_number: number | null;
}

export function historyRows(sql: postgres.Sql): Promise<HistoryRow[]> {
  return sql<HistoryRow[]>`
    SELECT schedule_id, (extract(epoch FROM slot) * 1000)::float8 AS slot_ms, message_id, outcome, reason, missed_runs,
           (extract(epoch FROM sent_at) * 1000)::float8 AS sent_ms, (extract(epoch FROM confirmed_at) * 1000)::float8 AS confirmed_ms,
           lag_seconds, replica, run_number
      FROM scheduler_fire_history ORDER BY schedule_id, slot`;
}
