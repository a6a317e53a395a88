/**
 * The console's history reads (docs/console.md §3): a schedule's fires from the history table,
 * every replica's, and the operators' activity from the audit, each newest first and paged by a
 * cursor that is the last entry's time (exclusive). Without the tables: `available: false`; with a
 * table this database user may not read: 403, saying so and naming the GRANT.
 */

import { auditEntries, scheduleFires } from "../postgres/history-queries.ts";
import { type HistoryTables, historyTables, unreadableHistory, unreadableTables } from "../postgres/history-tables.ts";
import type { ConsoleContext } from "./context.ts";
import { ACTIVITY_PAGE, type ActivityPage, HISTORY_PAGE, type HistoryPage } from "./contract.ts";
import { BadRequest, json } from "./respond.ts";

/** A cursor as the API hands it out: a time to the microsecond, in UTC. */
const CURSOR = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * A time PostgreSQL takes as it is: year 1 or later, and fields in range. Date.parse alone would
 * let February 30 or hour 24 through, rolled over, which PostgreSQL refuses (a 500, not a 400).
 */
function isRealTime(value: string): boolean {
  const ms = Date.parse(value);
  return (
    Number.isFinite(ms) && !value.startsWith("0000") && new Date(ms).toISOString().slice(0, 23) === value.slice(0, 23)
  );
}

/** The `before` parameter, the only one these reads take: a time, and for the activity `_<id>` after it. */
function before(params: URLSearchParams, withId = false): { time: string; id: number | null } | null {
  for (const key of params.keys()) if (key !== "before") throw new BadRequest(`unknown parameter "${key}"`);
  const value = params.get("before");
  if (value === null || value === "") return null;
  const [time = "", id, ...rest] = value.split("_");
  const idOk = id === undefined || (withId && /^[1-9]\d{0,14}$/.test(id));
  if (!CURSOR.test(time) || !isRealTime(time) || !idOk || rest.length > 0)
    throw new BadRequest(`before "${value.slice(0, 40)}" is not a cursor this API gave out`);
  return { time, id: id === undefined ? null : Number(id) };
}

/** Refuses (403) when the table exists but this user may not SELECT from it. */
function requireReadable(tables: HistoryTables, which: { fires: boolean; audit: boolean }): void {
  const names = unreadableTables(tables, which);
  if (names.length > 0) throw new BadRequest(unreadableHistory(tables.user, names), 403);
}

export async function historyPage(context: ConsoleContext, id: number, params: URLSearchParams): Promise<Response> {
  const cursor = before(params);
  const sql = context.sql();
  const tables = await historyTables(sql);
  if (!tables.fires) return json({ ok: true, available: false, fires: [], next: null } satisfies HistoryPage);
  requireReadable(tables, { fires: true, audit: false });
  const fires = await scheduleFires(sql, id, { since: null, before: cursor?.time ?? null, limit: HISTORY_PAGE });
  const next = fires.length === HISTORY_PAGE ? fires[fires.length - 1]!.recordedAt : null;
  return json({ ok: true, available: true, fires, next } satisfies HistoryPage);
}

export async function activityPage(context: ConsoleContext, params: URLSearchParams): Promise<Response> {
  const cursor = before(params, true);
  const sql = context.sql();
  const tables = await historyTables(sql);
  if (!tables.audit) return json({ ok: true, available: false, actions: [], next: null } satisfies ActivityPage);
  requireReadable(tables, { fires: false, audit: true });
  const window = { since: null, before: cursor?.time ?? null, beforeId: cursor?.id ?? null, limit: ACTIVITY_PAGE };
  const actions = await auditEntries(sql, null, window);
  const last = actions.length === ACTIVITY_PAGE ? actions[actions.length - 1]! : null;
  // The time and the id: a bulk action's rows share one time.
  const next = last ? `${last.at}_${last.id}` : null;
  return json({ ok: true, available: true, actions, next } satisfies ActivityPage);
}
