/**
 * The optional per-schedule columns of docs/contract.md §11 (`misfire_policy`,
 * `misfire_grace_seconds`, `ends_at`, `max_runs`, `jitter_seconds`) as SQL fragments. Each
 * fragment names only the columns this database has (store.ScheduleColumns, detected at start-up
 * and at every invalid-row scan): without them every statement is the one it was before.
 */
import type { Sql } from "./client.ts";
import type { ScheduleColumns } from "./store.ts";

/** The column names, as detected and as check-db reports them. */
export const POLICY_COLUMN_NAMES = {
  misfirePolicy: "misfire_policy",
  misfireGrace: "misfire_grace_seconds",
  endsAt: "ends_at",
  maxRuns: "max_runs",
  jitter: "jitter_seconds",
} as const;

type PolicyColumn = keyof typeof POLICY_COLUMN_NAMES;

/** The names of those present, in the migration's order (empty without them). */
export function presentPolicyColumns(columns: ScheduleColumns): string[] {
  return (Object.keys(POLICY_COLUMN_NAMES) as PolicyColumn[])
    .filter((key) => columns[key])
    .map((key) => POLICY_COLUMN_NAMES[key]);
}

/** The cron half of the columns, as `stats` and `check-db` have always reported it. */
export function cronColumns(columns: ScheduleColumns): { cronExpression: boolean; timezone: boolean } {
  return { cronExpression: columns.cronExpression, timezone: columns.timezone };
}

/** Any of them present: only then do the statements change. */
export function hasPolicyColumns(columns: ScheduleColumns): boolean {
  return columns.misfirePolicy || columns.misfireGrace || columns.endsAt || columns.maxRuns || columns.jitter;
}

/** The fields the claim reads (NULL for an absent column), for message.ClaimedRow. */
export function policyFields(sql: Sql, columns: ScheduleColumns) {
  const policy = columns.misfirePolicy ? sql`sw.misfire_policy::text` : sql`NULL::text`;
  const grace = columns.misfireGrace ? sql`sw.misfire_grace_seconds::int8` : sql`NULL::int8`;
  const endsAt = columns.endsAt ? sql`(extract(epoch FROM sw.ends_at) * 1000)::float8` : sql`NULL::float8`;
  const maxRuns = columns.maxRuns ? sql`sw.max_runs::int8` : sql`NULL::int8`;
  const jitter = columns.jitter ? sql`sw.jitter_seconds::int8` : sql`NULL::int8`;
  return sql`${policy} AS misfire_policy, ${grace} AS misfire_grace_seconds, ${endsAt} AS ends_at_ms,
    ${maxRuns} AS max_runs, ${jitter} AS jitter_seconds`;
}

/**
 * The jitter offset of the row's slot in ms, THE SAME FORMULA as src/schedule/jitter.ts
 * `jitterOffsetMs`: md5 of `<id>:<floor(slot ms)>`, first 32 bits unsigned, times the jitter in
 * ms, over 2^32, floored (numeric, so no overflow). 0 without jitter.
 */
function jitterOffsetMs(sql: Sql) {
  return sql`CASE WHEN sw.jitter_seconds > 0 THEN floor(
      ('x' || left(md5(sw.id::text || ':' || floor(extract(epoch FROM sw.next_run_at) * 1000)::int8::text), 8))::bit(32)::int8::numeric
      * (sw.jitter_seconds::numeric * 1000) / 4294967296) ELSE 0 END`;
}

/** When the row's slot is meant to fire: `next_run_at` plus its jitter (just `next_run_at` without the column). */
export function dueAt(sql: Sql, columns: ScheduleColumns) {
  if (!columns.jitter) return sql`sw.next_run_at`;
  return sql`(sw.next_run_at + make_interval(secs => (${jitterOffsetMs(sql)})::float8 / 1000))`;
}

/**
 * The bad values SQL can judge, each with its reason, in the order tried (after the reasons of
 * invalid-rows.ts). Each condition is false, never NULL, for a NULL column.
 */
const emptyFragment = (sql: Sql) => sql``;
type Fragment = ReturnType<typeof emptyFragment>;

const BAD_VALUES: readonly {
  reason: string;
  needs: readonly PolicyColumn[];
  when: (sql: Sql, c: ScheduleColumns) => Fragment;
}[] = [
  {
    reason: "misfire_policy is not once, skip or all",
    needs: ["misfirePolicy"],
    when: (sql) => sql`sw.misfire_policy::text NOT IN ('once', 'skip', 'all')`,
  },
  { reason: "misfire_grace_seconds < 0", needs: ["misfireGrace"], when: (sql) => sql`sw.misfire_grace_seconds < 0` },
  { reason: "max_runs < 1", needs: ["maxRuns"], when: (sql) => sql`sw.max_runs < 1` },
  {
    reason: "run_count has reached max_runs",
    needs: ["maxRuns"],
    when: (sql) => sql`coalesce(sw.run_count, 0) >= sw.max_runs`,
  },
  { reason: "jitter_seconds < 0", needs: ["jitter"], when: (sql) => sql`sw.jitter_seconds < 0` },
  {
    reason: "jitter_seconds is not shorter than interval_seconds",
    needs: ["jitter"],
    when: (sql, c) =>
      c.cronExpression
        ? sql`sw.cron_expression IS NULL AND sw.jitter_seconds > 0 AND sw.jitter_seconds >= sw.interval_seconds`
        : sql`sw.jitter_seconds > 0 AND sw.jitter_seconds >= sw.interval_seconds`,
  },
  { reason: "ends_at is before next_run_at", needs: ["endsAt"], when: (sql) => sql`sw.ends_at < sw.next_run_at` },
];

/** Every reason a bad value can give, for counts (present only with the columns). */
export function badValueReasons(columns: ScheduleColumns): string[] {
  return BAD_VALUES.filter((bad) => bad.needs.every((name) => columns[name])).map((bad) => bad.reason);
}

const present = (columns: ScheduleColumns) => BAD_VALUES.filter((bad) => bad.needs.every((name) => columns[name]));

/**
 * True when no optional column holds a bad value (never NULL; `true` without the columns). One
 * `IS NOT TRUE` a condition, so that the planner estimates each from the column's statistics
 * (all NULL: every row passes) and still walks the (next_run_at) index for a LIMIT 1; written
 * as `NOT (coalesce(a, false) OR …)` it was estimated to drop most rows, and the poll sorted the
 * whole look-ahead window instead.
 */
export function hasNoBadValue(sql: Sql, columns: ScheduleColumns) {
  const found = present(columns);
  if (found.length === 0) return sql`true`;
  return found.map((bad) => sql`(${bad.when(sql, columns)}) IS NOT TRUE`).reduce((all, one) => sql`${all} AND ${one}`);
}

/** CASE arms giving the reason of the first bad value (to splice into invalid-rows' CASE). */
export function badValueArms(sql: Sql, columns: ScheduleColumns) {
  return present(columns)
    .map((bad) => sql`WHEN coalesce((${bad.when(sql, columns)}), false) THEN ${bad.reason}`)
    .reduce((all, one) => sql`${all} ${one}`, emptyFragment(sql));
}
