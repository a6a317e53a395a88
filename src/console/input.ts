/** Pure: the console API's inputs, checked; each problem is a {@link BadRequest} naming the field. */
import { parseInstant } from "../operator/backfill.ts";
import { FILTERS, type Filter, MAX_REASON, MAX_SEARCH, PAGE_DEFAULT, PAGE_MAX, parseScheduleId } from "./contract.ts";
import { type Cursor, decodeCursor } from "./cursor.ts";
import { BadRequest } from "./respond.ts";

export function scheduleId(text: string): number {
  const id = parseScheduleId(text);
  if (id === null)
    throw new BadRequest(`schedule id ${JSON.stringify(text.slice(0, 20))} is invalid: expected a positive integer`);
  return id;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

interface ListQuery {
  readonly filter: Filter;
  readonly search: string;
  readonly after: Cursor | null;
  readonly limit: number;
}

export function listQuery(params: URLSearchParams): ListQuery {
  for (const key of params.keys())
    if (!["state", "q", "after", "limit"].includes(key))
      throw new BadRequest(`unknown parameter ${JSON.stringify(key.slice(0, 40))}`);
  const state = params.get("state") ?? "all";
  if (!(FILTERS as readonly string[]).includes(state))
    throw new BadRequest(`state must be one of ${FILTERS.join(", ")}`);
  const search = params.get("q") ?? "";
  if (search.length > MAX_SEARCH) throw new BadRequest(`q is longer than ${MAX_SEARCH} characters`);
  if (CONTROL.test(search))
    throw new BadRequest("q must be one line of text: no control characters (NUL, tab, newline…)");
  const afterText = params.get("after");
  const after = afterText === null || afterText === "" ? null : decodeCursor(afterText);
  if (afterText && after === null) throw new BadRequest("after is not a cursor this console gave out");
  const limitText = params.get("limit") ?? String(PAGE_DEFAULT);
  const limit = Number(limitText);
  if (!/^\d{1,3}$/.test(limitText) || limit < 1 || limit > PAGE_MAX)
    throw new BadRequest(`limit must be a whole number from 1 to ${PAGE_MAX}`);
  return { filter: state as Filter, search, after, limit };
}

/** A JSON object body with only the `allowed` keys. */
export function objectBody(value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new BadRequest("the body must be a JSON object");
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) throw new BadRequest(`unknown field ${JSON.stringify(key.slice(0, 40))}`);
  return value as Record<string, unknown>;
}

export function pauseReason(body: Record<string, unknown>): string | null {
  const reason = body.reason;
  if (reason === undefined || reason === null) return null;
  if (typeof reason !== "string") throw new BadRequest("reason must be a string");
  if (CONTROL.test(reason)) throw new BadRequest("reason must be one line of text");
  if (reason.length > MAX_REASON) throw new BadRequest(`reason is longer than ${MAX_REASON} characters`);
  return reason.trim() === "" ? null : reason.trim();
}

interface BackfillInput {
  readonly fromMs: number;
  readonly toMs: number;
  readonly confirm: boolean;
}

export function backfillInput(body: Record<string, unknown>): BackfillInput {
  const expected = "an ISO 8601 time with a zone, e.g. 2026-11-25T00:00:00Z";
  const fromMs = parseInstant(body.from);
  const toMs = parseInstant(body.to);
  if (fromMs === undefined || toMs === undefined)
    throw new BadRequest("from and to are required: the window [from, to) to fill");
  if (fromMs === null) throw new BadRequest(`from must be ${expected}`);
  if (toMs === null) throw new BadRequest(`to must be ${expected}`);
  if (toMs <= fromMs) throw new BadRequest("to must be later than from");
  if (body.confirm !== undefined && typeof body.confirm !== "boolean")
    throw new BadRequest("confirm must be true or false");
  return { fromMs, toMs, confirm: body.confirm === true };
}
