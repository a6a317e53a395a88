/**
 * The two paces of a dependency down (docs/design.md §13). Attempts come on a short fixed
 * interval, so a dependency that is back is found within about a second whatever the outage's
 * length; the back-off (1 s doubling to 30 s) spaces only the reports, so the log stays quiet,
 * and counts the attempts SCHEDULER_MAX_RETRIES limits.
 */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;

/** Between attempts while a dependency is down: never more than one a second per dependency. */
export const PROBE_INTERVAL_MS = 1_000;
/** Added at random to each interval, so replicas that lost the same server do not stampede it. */
export const PROBE_JITTER_MS = 200;

/** Delay before report number `attempt` + 1 (1 = the first failure). `random` is injectable for tests. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: replicas that lost the same server spread their reports out.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Wait before the next attempt while a dependency is down: 1.0–1.2 s. */
export function probeDelay(random: () => number = Math.random): number {
  return PROBE_INTERVAL_MS + Math.round(random() * PROBE_JITTER_MS);
}
