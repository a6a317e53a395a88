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
  /** The table exists (as the session's search_path finds it). */
  readonly fires: boolean;
  readonly audit: boolean;
  /**
   * And this user may INSERT into it. Writers go by these: a claim whose history insert were
   * refused would roll back, and its published batch would be published again, forever.
   */
  readonly firesWritable: boolean;
  readonly auditWritable: boolean;
  /** And this user may SELECT from it: readers go by these (stats leaves its column out; the history reads refuse). */
  readonly firesReadable: boolean;
  readonly auditReadable: boolean;
  /** The session's user, for the GRANT a refusal names. */
  readonly user: string;
}

/** Which of the history tables exist, and which this user may write. */
export async function historyTables(sql: Sql): Promise<HistoryTables> {
  const [row] = await sql<
    {
      fires: boolean;
      audit: boolean;
      fires_writable: boolean;
      audit_writable: boolean;
      fires_readable: boolean;
      audit_readable: boolean;
      user: string;
    }[]
  >`
    SELECT f IS NOT NULL AS fires, a IS NOT NULL AS audit,
           coalesce(has_table_privilege(f, 'INSERT'), false) AS fires_writable,
           coalesce(has_table_privilege(a, 'INSERT'), false) AS audit_writable,
           coalesce(has_table_privilege(f, 'SELECT'), false) AS fires_readable,
           coalesce(has_table_privilege(a, 'SELECT'), false) AS audit_readable,
           current_user AS user
      FROM (SELECT to_regclass(${FIRE_HISTORY_TABLE}) AS f, to_regclass(${AUDIT_TABLE}) AS a) t`;
  return {
    fires: row?.fires ?? false,
    audit: row?.audit ?? false,
    firesWritable: row?.fires_writable ?? false,
    auditWritable: row?.audit_writable ?? false,
    firesReadable: row?.fires_readable ?? false,
    auditReadable: row?.audit_readable ?? false,
    user: row?.user ?? "",
  };
}

/**
 * The history tables that exist but this user may not SELECT from: a reader refuses with
 * {@link unreadableHistory}'s line instead of failing on 42501 with the schedules' grant hint.
 */
export function unreadableTables(tables: HistoryTables, which: { fires: boolean; audit: boolean }): string[] {
  const names: string[] = [];
  if (which.fires && tables.fires && !tables.firesReadable) names.push(FIRE_HISTORY_TABLE);
  if (which.audit && tables.audit && !tables.auditReadable) names.push(AUDIT_TABLE);
  return names;
}

/** "This user may not read the history", with the GRANT that lets it. */
export function unreadableHistory(user: string, names: readonly string[]): string {
  const role = /^[a-z_][a-z0-9_$]*$/.test(user) ? user : `"${user.replaceAll('"', '""')}"`;
  return `PostgreSQL user "${user}" may not read the history (no SELECT on ${names.join(", ")}); to let it, run GRANT SELECT ON ${names.join(", ")} TO ${role}`;
}

/** SQLSTATE 42P01: a statement named a table that does not exist (the history was dropped). */
export const UNDEFINED_TABLE = "42P01";
