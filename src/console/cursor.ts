/**
 * Pure: the keyset cursor of the schedule list. It carries `next_run_at` exactly as PostgreSQL
 * printed it (microseconds, ±infinity) and the id, so the next page starts right after the last
 * row shown whatever the precision; NULL `next_run_at` rows come after every other, by id.
 */

import type { Cursor } from "../postgres/console-queries.ts";
import { MAX_INT4 } from "./contract.ts";

export type { Cursor };

const TIMESTAMP =
  /^(?:-?infinity|(\d{4,6})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:[+-]\d{2}(?::\d{2}){0,2})?(?: BC)?)$/;

/**
 * A timestamp PostgreSQL could have printed: a real calendar date and time of day. The pattern
 * alone lets `2026-13-45 25:61:61` through, whose cast would fail in the query as if the
 * database were at fault.
 */
function isTimestamp(text: string): boolean {
  const match = TIMESTAMP.exec(text);
  if (match === null) return false;
  if (match[1] === undefined) return true; // ±infinity
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as number[];
  const date = new Date(0);
  date.setUTCFullYear(year!, month! - 1, day!);
  const realDate = date.getUTCMonth() === month! - 1 && date.getUTCDate() === day!;
  return realDate && hour! <= 24 && minute! <= 59 && second! <= 60;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.next, cursor.id]), "utf8").toString("base64url");
}

/** The cursor of `?after=`, or null when it is not one this server made. */
export function decodeCursor(text: string): Cursor | null {
  if (text.length > 200 || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [next, id] = value as [unknown, unknown];
  if (!(typeof id === "number" && Number.isInteger(id) && id >= 0 && id <= MAX_INT4)) return null;
  if (next === null) return { next: null, id };
  if (typeof next !== "string" || !isTimestamp(next)) return null;
  return { next, id };
}
