/** Counters, gauges and the fire-lag histogram of one scheduler process. No I/O. */
import { FIRE_COUNTERS, type FireCounter, type FireCounts, type FireTally, zeroFireCounts } from "../engine/fire.ts";

/** Fire-lag buckets, seconds: precise fires land in the first few, outages in the last. */
export const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

export interface Metrics extends FireCounts {
  checks: number;
  lastCheckMs: number | null;
  lastExecutionMs: number | null;
  dbUp: boolean;
  mqUp: boolean;
  /** Why the replica cannot fire although connected (a block, a failing cycle, a lock), or null. */
  notFiring: string | null;
  /** False until the engine has tried RabbitMQ: it tries only once PostgreSQL answers. */
  mqTried: boolean;
  dueBacklog: number;
  oldestOverdueSeconds: number;
  invalidRows: number;
  /** Schedules currently deactivated by a scheduler (from the database, refreshed with the invalid-row scan). */
  pausedNow: number;
  lag: { buckets: number[]; sum: number; count: number };
  /** Console API requests refused for their token: none given, a wrong one, or the address over its limit. */
  consoleAuthFailures: { missing: number; wrong: number; limited: number };
  startedMs: number;
}

export function createMetrics(startedMs: number = Date.now()): Metrics {
  return {
    checks: 0,
    ...zeroFireCounts(),
    lastCheckMs: null,
    lastExecutionMs: null,
    dbUp: false,
    mqUp: false,
    notFiring: null,
    mqTried: false,
    dueBacklog: 0,
    oldestOverdueSeconds: 0,
    invalidRows: 0,
    pausedNow: 0,
    lag: { buckets: LAG_BUCKETS.map(() => 0), sum: 0, count: 0 },
    consoleAuthFailures: { missing: 0, wrong: 0, limited: 0 },
    startedMs,
  };
}

export function observeLag(metrics: Metrics, seconds: number): void {
  const lag = Math.max(0, seconds);
  metrics.lag.sum += lag;
  metrics.lag.count += 1;
  for (let i = 0; i < LAG_BUCKETS.length; i++) if (lag <= LAG_BUCKETS[i]!) metrics.lag.buckets[i]! += 1;
}

/** Counts a committed batch (see fire.ts): only ever called after the commit that recorded it. */
export function applyTally(metrics: Metrics, tally: FireTally): void {
  for (const counter of Object.keys(FIRE_COUNTERS) as FireCounter[]) metrics[counter] += tally[counter];
  for (const fire of tally.confirmed) observeLag(metrics, fire.lagSeconds);
  if (tally.firedAtMs !== null) metrics.lastExecutionMs = tally.firedAtMs;
}

/**
 * The line operators grep for when a dependency is lost (the original service's format). A
 * broker not tried yet is not called down: with PostgreSQL down at start-up it never was.
 */
export function healthFailedLine(
  metrics: Pick<Metrics, "dbUp" | "mqUp" | "mqTried"> & { notFiring?: string | null },
): string {
  const mq = metrics.mqUp ? "up" : metrics.mqTried ? "down" : "not tried yet";
  const why = metrics.notFiring ? ` | ${metrics.notFiring}` : "";
  return `HEALTHCHECK FAILED | DB: ${metrics.dbUp ? "up" : "down"} | MQ: ${mq}${why}`;
}

/** The one-line summary operators grep for (the original service's format). */
export function healthcheckLine(metrics: Metrics): string {
  const iso = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString());
  return (
    `HEALTHCHECK OK | checks=${metrics.checks} executions=${metrics.executions} failures=${metrics.failures}` +
    ` last_check=${iso(metrics.lastCheckMs)} last_execution=${iso(metrics.lastExecutionMs)}`
  );
}
