/**
 * The console's history reads (docs/console.md §3): a schedule's fires from the history table,
 * every replica's, and the operators' activity from the audit, each newest first and paged by a
 * cursor that is the last entry's time (exclusive). Without the tables: `available: false`.
 */

import { auditEntries, scheduleFires } from "../postgres/history-queries.ts";
import { historyTables } from "../postgres/history-tables.ts";
import type { ConsoleContext } from "./context.ts";
import { ACTIVITY_PAGE, type ActivityPage, HISTORY_PAGE, type HistoryPage } from "./contract.ts";
import { BadRequest, json } from "./respond.ts";

/** A cursor as the API hands it out: a time to the microsecond, in UTC. */
const CURSOR = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** The `before` parameter, the only one these reads take. */
function before(params: URLSearchParams): string | null {
  for (const key of params.keys()) if (key !== "before") throw new BadRequest(`unknown parameter "${key}"`);
  const value = params.get("before");
  if (value === null || value === "") return null;
  if (!CURSOR.test(value) || !Number.isFinite(Date.parse(value)))
    throw new BadRequest(`before "${value.slice(0, 40)}" is not a cursor this API gave out`);
  return value;
}

export async function historyPage(context: ConsoleContext, id: number, params: URLSearchParams): Promise<Response> {
  const cursor = before(params);
  const sql = context.sql();
  const tables = await historyTables(sql);
  if (!tables.fires) return json({ ok: true, available: false, fires: [], next: null } satisfies HistoryPage);
  const fires = await scheduleFires(sql, id, { since: null, before: cursor, limit: HISTORY_PAGE });
  const next = fires.length === HISTORY_PAGE ? fires[fires.length - 1]!.recordedAt : null;
  return json({ ok: true, available: true, fires, next } satisfies HistoryPage);
}

export async function activityPage(context: ConsoleContext, params: URLSearchParams): Promise<Response> {
  const cursor = before(params);
  const sql = context.sql();
  const tables = await historyTables(sql);
  if (!tables.audit) return json({ ok: true, available: false, actions: [], next: null } satisfies ActivityPage);
  const actions = await auditEntries(sql, null, { since: null, before: cursor, limit: ACTIVITY_PAGE });
  const next = actions.length === ACTIVITY_PAGE ? actions[actions.length - 1]!.at : null;
  return json({ ok: true, available: true, actions, next } satisfies ActivityPage);
}
