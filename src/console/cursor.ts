/**
 * Pure: the keyset cursor of the schedule list. It carries `next_run_at` exactly as PostgreSQL
 * printed it (microseconds, ±infinity) and the id, so the next page starts right after the last
 * row shown whatever the precision; NULL `next_run_at` rows come after every other, by id.
 */

export interface Cursor {
  /** `next_run_at` as text, or null for the rows without one (listed last). */
  readonly next: string | null;
  readonly id: number;
}

const TIMESTAMP =
  /^(?:-?infinity|\d{4,6}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}(?::\d{2}){0,2})?(?: BC)?)$/;
const MAX_INT4 = 2 ** 31 - 1;

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
  if (typeof next !== "string" || !TIMESTAMP.test(next)) return null;
  return { next, id };
}
