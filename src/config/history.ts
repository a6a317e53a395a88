/** The fire history's and audit's settings (docs/configuration.md, "History and audit"). */

import { hostname } from "node:os";
import { MAX_INT4 } from "../units.ts";
import { type Fail, type Getter, number, seconds } from "./values.ts";

export interface HistoryConfig {
  /** This replica's name on every history row it writes: SCHEDULER_INSTANCE_NAME, or `host:pid`. */
  readonly instanceName: string;
  /** Fire history rows older than this are pruned; 0 keeps them (bounded only by `keepPerSchedule`). */
  readonly historyRetentionMs: number;
  /** At most this many fire history rows per schedule (the newest); 0: no count limit. */
  readonly keepPerSchedule: number;
  /** Audit rows older than this are pruned; 0 keeps them. */
  readonly auditRetentionMs: number;
}

/** Ten years: longer than any retention anyone means, short enough for a timestamp. */
const MAX_RETENTION_MS = 10 * 366 * 86_400_000;

export function historyConfig(get: Getter, fail: Fail, pid: number = process.pid): HistoryConfig {
  const name = get("SCHEDULER_INSTANCE_NAME").trim();
  if (name.length > 200) fail("SCHEDULER_INSTANCE_NAME", "a name of at most 200 characters");
  const retention = { zero: true, maxMs: MAX_RETENTION_MS };
  return {
    instanceName: name === "" ? `${hostname()}:${pid}` : name,
    historyRetentionMs: seconds(get, fail, "SCHEDULER_HISTORY_RETENTION", retention),
    keepPerSchedule: number(get, fail, "SCHEDULER_HISTORY_KEEP", { min: 0, max: MAX_INT4, integer: true }),
    auditRetentionMs: seconds(get, fail, "SCHEDULER_AUDIT_RETENTION", retention),
  };
}
