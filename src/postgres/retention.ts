/**
 * Pruning the fire history and the audit (docs/design.md §22): small batches, each its own short
 * transaction, rows chosen `FOR UPDATE SKIP LOCKED`, so any number of replicas prune at once
 * without deleting the same rows twice or waiting on each other, and nothing holds a lock for
 * longer than one batch.
 */

import type { Sql } from "./client.ts";
import { AUDIT_TABLE, FIRE_HISTORY_TABLE } from "./history-tables.ts";
import { INT4 } from "./types.ts";

/** Rows one batch deletes at most: one short transaction. */
export const PRUNE_BATCH_ROWS = 1_000;

/**
 * The count limit's batches: this many schedules a statement, at most this many rows each, so a
 * batch deletes at most {@link PRUNE_BATCH_ROWS} too. A schedule with more past its limit is
 * trimmed further at the next walk.
 */
export const COUNT_WALK = { schedules: 20, perSchedule: PRUNE_BATCH_ROWS / 20 } as const;

/**
 * A table pruned by age: its name, the column a batch picks its rows by (the audit's key; the
 * fire history has none, so its rows' `ctid`) and the time they are aged by.
 */
interface Aged {
  readonly table: string;
  readonly key: string;
  readonly time: string;
}

const FIRES: Aged = { table: FIRE_HISTORY_TABLE, key: "ctid", time: "recorded_at" };
const AUDIT: Aged = { table: AUDIT_TABLE, key: "id", time: "at" };

/** Deletes up to `limit` rows of `aged` older than `olderThanMs`, oldest first; returns how many. */
async function pruneByAge(sql: Sql, aged: Aged, olderThanMs: number, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM ${sql(aged.table)} WHERE ${sql(aged.key)} = ANY(ARRAY(
      SELECT ${sql(aged.key)} FROM ${sql(aged.table)}
       WHERE ${sql(aged.time)} < now() - make_interval(secs => ${olderThanMs / 1000})
       ORDER BY ${sql(aged.time)} LIMIT ${limit}
         FOR UPDATE SKIP LOCKED))`;
  return result.count;
}

/** Deletes up to `limit` fire history rows recorded more than `olderThanMs` ago, oldest first; returns how many. */
export function pruneFiresByAge(sql: Sql, olderThanMs: number, limit = PRUNE_BATCH_ROWS): Promise<number> {
  return pruneByAge(sql, FIRES, olderThanMs, limit);
}

/**
 * For each schedule of `scheduleIds`, deletes its fire history rows past the newest `keep`
 * (at most `limit` a schedule); returns how many.
 */
export async function pruneFiresByCount(
  sql: Sql,
  scheduleIds: readonly number[],
  keep: number,
  limit: number = COUNT_WALK.perSchedule,
): Promise<number> {
  if (scheduleIds.length === 0) return 0;
  const result = await sql`
    DELETE FROM scheduler_fire_history WHERE ctid = ANY(ARRAY(
      SELECT old.ctid FROM unnest(${sql.array(scheduleIds as number[], INT4)}::int4[]) s(id)
       CROSS JOIN LATERAL (
         SELECT h.ctid FROM scheduler_fire_history h
          WHERE h.schedule_id = s.id
          ORDER BY h.recorded_at DESC OFFSET ${keep} LIMIT ${limit}
            FOR UPDATE SKIP LOCKED) old))`;
  return result.count;
}

/**
 * Schedule ids after `afterId`, in order, `limit` of them: the walk of the count limit, over the
 * schedules' primary key (a deleted schedule's history goes by age).
 */
export async function scheduleIdsAfter(sql: Sql, afterId: number, limit: number): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    SELECT id FROM scheduled_workflows WHERE id > ${afterId} ORDER BY id LIMIT ${limit}`;
  return rows.map((row) => row.id);
}

/** Deletes up to `limit` audit rows older than `olderThanMs`, oldest first; returns how many. */
export function pruneAudit(sql: Sql, olderThanMs: number, limit = PRUNE_BATCH_ROWS): Promise<number> {
  return pruneByAge(sql, AUDIT, olderThanMs, limit);
}
