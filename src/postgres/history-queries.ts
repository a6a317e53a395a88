/**
 * Reading the fire history and the audit (docs/contract.md §10): one schedule's fires and
 * actions newest first, the operators' activity, and the last failure of failing schedules.
 * Times leave as ISO text with microseconds, as PostgreSQL holds them, so a page's cursor is exact.
 */

import type { Sql } from "./client.ts";
import { INT4 } from "./types.ts";

/** `timestamptz` as `2026-11-26T15:25:48.012345Z`. */
const ISO_US = `YYYY-MM-DD"T"HH24:MI:SS.US"Z"`;

export interface FireEntry {
  readonly recordedAt: string;
  readonly slot: string;
  readonly messageId: string | null;
  readonly outcome: string;
  readonly reason: string | null;
  readonly missedRuns: number;
  readonly sentAt: string | null;
  readonly confirmedAt: string | null;
  readonly lagSeconds: number | null;
  readonly replica: string;
  readonly runNumber: number | null;
}

export interface AuditEntryRow {
  readonly id: number;
  readonly at: string;
  readonly actor: string;
  readonly source: string;
  readonly action: string;
  readonly scheduleIds: number[];
  readonly reason: string | null;
  readonly outcome: string;
  readonly detail: Record<string, unknown> | null;
}

/**
 * A window's times go to PostgreSQL as text (`::text::timestamptz`): a parameter PostgreSQL
 * types as timestamptz, postgres.js writes through a JavaScript Date, to the millisecond, which
 * would move a cursor of `…00.000123Z` to `…00.000Z` and skip the entries between.
 */
export interface Window {
  /** Only entries at or after this time (ISO text), or null. */
  readonly since: string | null;
  /** Only entries strictly before this time (a page's cursor, ISO text), or null. */
  readonly before: string | null;
  /**
   * The audit only: with `before`, entries at that very time and an id below this one count as
   * before too. A bulk action's rows share one time (its transaction's), so a time alone would
   * skip those past a page's end.
   */
  readonly beforeId?: number | null;
  readonly limit: number;
}

/** One schedule's fire history, newest first. */
export async function scheduleFires(sql: Sql, id: number, window: Window): Promise<FireEntry[]> {
  const rows = await sql<
    {
      recorded_at: string;
      slot: string;
      message_id: string | null;
      outcome: string;
      reason: string | null;
      missed_runs: number;
      sent_at: string | null;
      confirmed_at: string | null;
      lag_seconds: number | null;
      replica: string;
      run_number: number | null;
    }[]
  >`
    SELECT to_char(recorded_at AT TIME ZONE 'UTC', ${ISO_US}) AS recorded_at, to_char(slot AT TIME ZONE 'UTC', ${ISO_US}) AS slot,
           message_id, outcome, reason, missed_runs,
           to_char(sent_at AT TIME ZONE 'UTC', ${ISO_US}) AS sent_at, to_char(confirmed_at AT TIME ZONE 'UTC', ${ISO_US}) AS confirmed_at,
           lag_seconds, replica, run_number
      FROM scheduler_fire_history
     WHERE schedule_id = ${id}
       ${window.since === null ? sql`` : sql`AND recorded_at >= ${window.since}::text::timestamptz`}
       ${window.before === null ? sql`` : sql`AND recorded_at < ${window.before}::text::timestamptz`}
     ORDER BY recorded_at DESC, slot DESC
     LIMIT ${window.limit}`;
  return rows.map((r) => ({
    recordedAt: r.recorded_at,
    slot: r.slot,
    messageId: r.message_id,
    outcome: r.outcome,
    reason: r.reason,
    missedRuns: r.missed_runs,
    sentAt: r.sent_at,
    confirmedAt: r.confirmed_at,
    lagSeconds: r.lag_seconds,
    replica: r.replica,
    runNumber: r.run_number,
  }));
}

/** Operator actions, newest first: of one schedule, or of all (`scheduleId` null). */
export async function auditEntries(sql: Sql, scheduleId: number | null, window: Window): Promise<AuditEntryRow[]> {
  const rows = await sql<
    {
      id: string;
      at: string;
      actor: string;
      source: string;
      action: string;
      schedule_ids: number[];
      reason: string | null;
      outcome: string;
      detail: Record<string, unknown> | null;
    }[]
  >`
    SELECT id, to_char(at AT TIME ZONE 'UTC', ${ISO_US}) AS at, actor, source, action, schedule_ids, reason, outcome, detail
      FROM scheduler_audit
     WHERE true
       ${scheduleId === null ? sql`` : sql`AND schedule_ids @> ARRAY[${scheduleId}::int4]`}
       ${window.since === null ? sql`` : sql`AND at >= ${window.since}::text::timestamptz`}
       ${
         window.before === null
           ? sql``
           : window.beforeId == null
             ? sql`AND at < ${window.before}::text::timestamptz`
             : sql`AND at <= ${window.before}::text::timestamptz AND (at, id) < (${window.before}::text::timestamptz, ${window.beforeId}::int8)`
       }
     ORDER BY at DESC, id DESC
     LIMIT ${window.limit}`;
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at,
    actor: r.actor,
    source: r.source,
    action: r.action,
    scheduleIds: r.schedule_ids,
    reason: r.reason,
    outcome: r.outcome,
    detail: r.detail,
  }));
}

export interface LastFailure {
  readonly at: string;
  readonly slot: string;
  readonly replica: string;
  readonly reason: string | null;
}

/** The newest failed fire in the history of each of `ids` (absent for a schedule with none). */
export async function lastFailures(sql: Sql, ids: readonly number[]): Promise<Map<number, LastFailure>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: number; at: string; slot: string; replica: string; reason: string | null }[]>`
    SELECT s.id, f.at, f.slot, f.replica, f.reason
      FROM unnest(${sql.array(ids as number[], INT4)}::int4[]) s(id)
      CROSS JOIN LATERAL (
        SELECT to_char(h.recorded_at AT TIME ZONE 'UTC', ${ISO_US}) AS at, to_char(h.slot AT TIME ZONE 'UTC', ${ISO_US}) AS slot,
               h.replica, h.reason
          FROM scheduler_fire_history h
         WHERE h.schedule_id = s.id AND h.outcome = 'failed'
         ORDER BY h.recorded_at DESC LIMIT 1) f`;
  return new Map(rows.map((r) => [r.id, { at: r.at, slot: r.slot, replica: r.replica, reason: r.reason }]));
}
