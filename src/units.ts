/**
 * Pure units several layers share, with no import (the console's page bundles them through
 * src/console/contract.ts): the int4 bound of ids and counts, a schedule id as typed, and seconds
 * as an operator reads them. One home for each, for the CLI, the config, `stats` and the console.
 */

/** The largest int4: `scheduled_workflows.id` and the counters are int4 columns. */
export const MAX_INT4 = 2 ** 31 - 1;

/** A schedule id as typed (a positive integer within int4, no sign, no leading zero), or null. */
export function parseScheduleId(text: unknown): number | null {
  if (typeof text !== "string" || !/^[1-9]\d{0,9}$/.test(text)) return null;
  const id = Number(text);
  return id <= MAX_INT4 ? id : null;
}

/** Seconds as an operator reads them: 42s, 5m, 3h12m, 2d4h. */
export function duration(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}`;
  if (s < 86_400)
    return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ""}`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600) ? `${Math.floor((s % 86_400) / 3600)}h` : ""}`;
}
