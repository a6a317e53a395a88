/**
 * What `check-db` verifies: the tables and columns of docs/contract.md §1 with compatible types, the
 * recommended index, and the rows the engine will refuse. Queries here, verdicts pure.
 */

import { describeSchedule } from "../schedule/kinds.ts";
import type { Sql } from "./client.ts";
import { type InvalidReason, invalidCounts } from "./invalid-rows.ts";
import { claimable, columnsFrom, cronFields, NO_CRON_COLUMNS, type ScheduleColumns } from "./store.ts";

type TypeFamily = "integer" | "boolean" | "timestamp" | "text" | "json";

const FAMILY_TYPES: Record<TypeFamily, readonly string[]> = {
  integer: ["integer", "bigint", "smallint"],
  boolean: ["boolean"],
  timestamp: ["timestamp without time zone", "timestamp with time zone"],
  text: ["text", "character varying"],
  json: ["jsonb", "json"],
};

const REQUIRED_COLUMNS: Record<string, Record<string, TypeFamily>> = {
  scheduled_workflows: {
    id: "integer",
    workflow_id: "integer",
    is_active: "boolean",
    next_run_at: "timestamp",
    interval_seconds: "integer",
    run_count: "integer",
    failure_count: "integer",
    last_run_at: "timestamp",
    last_error: "text",
    updated_at: "timestamp",
  },
  workflows: { id: "integer", name: "text", workflow_data: "json" },
};

/** The optional columns (docs/contract.md §2): checked only when present; their absence means interval schedules only. */
const OPTIONAL_COLUMNS: Record<string, Record<string, TypeFamily>> = {
  scheduled_workflows: {
    cron_expression: "text",
    timezone: "text",
    misfire_policy: "text",
    misfire_grace_seconds: "integer",
    ends_at: "timestamp",
    max_runs: "integer",
    jitter_seconds: "integer",
  },
};

/** The migration that adds them (docs/contract.md §2, docs/upgrading.md). */
export const CRON_MIGRATION = "scripts/migrations/001_cron_columns.sql";

/** The migration that adds the per-schedule policy columns (docs/contract.md §11, docs/upgrading.md). */
export const POLICY_MIGRATION = "scripts/migrations/003_schedule_policy_columns.sql";

export const RECOMMENDED_INDEX =
  "CREATE INDEX CONCURRENTLY scheduled_workflows_due_idx ON scheduled_workflows (next_run_at) WHERE is_active;";

interface SchemaProblem {
  readonly table: string;
  readonly column?: string;
  readonly problem: string;
}

/** Pure: compare the columns found (name → formatted type) with what the engine needs. */
export function schemaProblems(found: Record<string, Record<string, string> | null>): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
    const actual = found[table];
    if (!actual) {
      problems.push({
        table,
        problem: `table ${table} is missing; load scripts/schema.sql or run the Rune API migrations`,
      });
      continue;
    }
    const optional = OPTIONAL_COLUMNS[table] ?? {};
    for (const [column, family] of [...Object.entries(columns), ...Object.entries(optional)]) {
      const type = actual[column];
      if (type === undefined) {
        if (!(column in optional))
          problems.push({ table, column, problem: `column ${table}.${column} is missing (expected ${family})` });
      } else if (!FAMILY_TYPES[family].some((prefix) => type.startsWith(prefix))) {
        problems.push({
          table,
          column,
          problem: `column ${table}.${column} has type ${type}, expected ${FAMILY_TYPES[family].join(" or ")}`,
        });
      }
    }
  }
  return problems;
}

export async function tableColumns(sql: Sql, table: string): Promise<Record<string, string> | null> {
  const [relation] = await sql<{ oid: number | null }[]>`SELECT to_regclass(${table})::oid AS oid`;
  if (!relation?.oid) return null;
  const rows = await sql<{ name: string; type: string }[]>`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
      FROM pg_attribute a
     WHERE a.attrelid = ${relation.oid} AND a.attnum > 0 AND NOT a.attisdropped`;
  return Object.fromEntries(rows.map((row) => [row.name, row.type]));
}

/** Names of indexes on scheduled_workflows whose first key column is next_run_at. */
export async function dueIndexes(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT i.indexrelid::regclass::text AS name
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indrelid = to_regclass('scheduled_workflows') AND a.attname = 'next_run_at' AND i.indisvalid`;
  return rows.map((row) => row.name);
}

export interface RowCounts {
  total: number;
  active: number;
  inactive: number;
  dueNow: number;
  invalid: Record<InvalidReason, number>;
}

/** The optional columns a `tableColumns` result holds (the timezone column counts only beside cron_expression). */
export function presentColumns(found: Record<string, string> | null): ScheduleColumns {
  return columnsFrom({ has: (name) => found !== null && name in found });
}

/**
 * Counts by the engine's own rules (invalid-rows.invalidReason: a row is invalid for the first
 * reason that applies). A cron row's expression and zone are judged in JavaScript (see
 * invalid-rows.invalidCronRows), so the caller passes the ids of the bad ones as `skipIds`.
 */
export async function rowCounts(
  sql: Sql,
  columns: ScheduleColumns = NO_CRON_COLUMNS,
  skipIds: readonly number[] = [],
): Promise<RowCounts> {
  const [row] = await sql<{ total: number; active: number; due_now: number }[]>`
    SELECT count(*)::int AS total,
      count(*) FILTER (WHERE sw.is_active)::int AS active,
      count(*) FILTER (WHERE ${claimable(sql, skipIds, columns)} AND w.id IS NOT NULL AND sw.next_run_at <= now())::int AS due_now
      FROM scheduled_workflows sw LEFT JOIN workflows w ON w.id = sw.workflow_id`;
  const r = row!;
  return {
    total: r.total,
    active: r.active,
    inactive: r.total - r.active,
    dueNow: r.due_now,
    invalid: await invalidCounts(sql, columns),
  };
}

export interface ScheduleKind {
  /** `every 5m`, or `0 9 * * MON-FRI Europe/Berlin`. */
  readonly schedule: string;
  readonly count: number;
}

/** The most common schedule kinds of active rows, most rows first. */
export async function scheduleKinds(sql: Sql, columns: ScheduleColumns, limit: number): Promise<ScheduleKind[]> {
  const rows = await sql<
    { interval_seconds: number | null; cron_expression: string | null; timezone: string | null; count: number }[]
  >`
    SELECT CASE WHEN cron_expression IS NULL THEN interval_seconds END AS interval_seconds, cron_expression, timezone,
           count(*)::int AS count
      FROM (SELECT sw.interval_seconds, ${cronFields(sql, columns)} FROM scheduled_workflows sw WHERE sw.is_active) k
     GROUP BY 1, 2, 3
     ORDER BY count DESC, 2 NULLS FIRST, 1
     LIMIT ${limit}`;
  return rows.map((r) => ({
    schedule: describeSchedule({
      intervalSeconds: r.interval_seconds,
      cronExpression: r.cron_expression,
      timezone: r.timezone,
    }),
    count: r.count,
  }));
}

/** The server's version, as `server_version` reports it. */
export async function serverVersion(sql: Sql): Promise<string | undefined> {
  const [version] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
  return version?.v;
}

/**
 * The session limits a session gets from the server (the role's or the database's defaults),
 * named when they are 0 (no limit): through a pooler the start-up packet carries none, so this is
 * what every statement outside the scheduler's own transactions runs with.
 */
export async function unlimitedSessionSettings(sql: Sql): Promise<string[]> {
  const [row] = await sql<{ statement: string; idle: string }[]>`
    SELECT current_setting('statement_timeout') AS statement,
           current_setting('idle_in_transaction_session_timeout') AS idle`;
  return [
    ...(row?.statement === "0" ? ["statement_timeout"] : []),
    ...(row?.idle === "0" ? ["idle_in_transaction_session_timeout"] : []),
  ];
}

/** What a host is: a standby replaying (pg_is_in_recovery), and whether a new session there is read-only. */
export async function hostRole(sql: Sql): Promise<{ standby: boolean; readOnly: boolean }> {
  const [state] = await sql<{ standby: boolean; read_only: boolean }[]>`
    SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') = 'on' AS read_only`;
  return { standby: state!.standby, readOnly: state!.read_only };
}
