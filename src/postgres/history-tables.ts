/**
 * The optional history tables (docs/contract.md §10): detected like the optional columns, and
 * written only where they exist, so a database that never ran the migration works unchanged.
 */

import type { Sql } from "./client.ts";

export const FIRE_HISTORY_TABLE = "scheduler_fire_history";
export const AUDIT_TABLE = "scheduler_audit";
/** The migration that creates them (docs/contract.md §10, docs/upgrading.md). */
export const HISTORY_MIGRATION = "scripts/migrations/004_history_tables.sql";

export interface HistoryTables {
  readonly fires: boolean;
  readonly audit: boolean;
}

export const NO_HISTORY_TABLES: HistoryTables = Object.freeze({ fires: false, audit: false });

/** Which of the history tables exist (as the session's search_path finds them). */
export async function historyTables(sql: Sql): Promise<HistoryTables> {
  const [row] = await sql<{ fires: boolean; audit: boolean }[]>`
    SELECT to_regclass(${FIRE_HISTORY_TABLE}) IS NOT NULL AS fires, to_regclass(${AUDIT_TABLE}) IS NOT NULL AS audit`;
  return { fires: row?.fires ?? false, audit: row?.audit ?? false };
}

/** SQLSTATE 42P01: a statement named a table that does not exist (the history was dropped). */
export const UNDEFINED_TABLE = "42P01";
