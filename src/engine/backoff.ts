/** Exponential backoff with full jitter over the upper half: 1 s doubling, capped at 30 s. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;

/** Delay before retry number `attempt` (1 = first retry). `random` is injectable for tests. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: replicas that lost the same server spread out, yet none waits
  // less than half the nominal delay.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
