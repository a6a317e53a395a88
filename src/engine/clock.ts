/**
 * The database clock as seen from this process. Due-ness is the database's call (`now()`), so
 * timers are aimed with the measured offset between a monotonic local clock and the server's
 * clock: neither the host's time zone nor a wrong or jumping host wall clock moves a fire.
 */

export interface Clock {
  /** Estimated database time, epoch ms. */
  now(): number;
  /** Local milliseconds until database time `dbMs` (negative when past). */
  msUntil(dbMs: number): number;
  /** Feed one measurement: the server said `dbMs` between local readings `before` and `after`. */
  observe(dbMs: number, localBefore: number, localAfter: number): void;
  /** A local monotonic reading, to bracket a measurement. */
  local(): number;
  /** Current offset (database minus local), ms. */
  offsetMs(): number;
}

/** `localNow` is monotonic ms (default `performance.timeOrigin + performance.now()`). */
export function createClock(localNow: () => number = () => performance.timeOrigin + performance.now()): Clock {
  // Until the first measurement, assume the host clock is right.
  let offset = 0;
  let bestRoundTrip = Number.POSITIVE_INFINITY;
  let measuredAt = Number.NEGATIVE_INFINITY;
  return {
    now: () => localNow() + offset,
    msUntil: (dbMs) => dbMs - (localNow() + offset),
    local: localNow,
    offsetMs: () => offset,
    observe(dbMs, before, after) {
      const roundTrip = after - before;
      // A slow round trip gives a blurry reading; keep a sharper recent one unless it is stale.
      const stale = after - measuredAt > 60_000;
      if (roundTrip <= bestRoundTrip * 2 || stale) {
        offset = dbMs - (before + after) / 2;
        bestRoundTrip = stale ? roundTrip : Math.min(bestRoundTrip, roundTrip);
        measuredAt = after;
      }
    },
  };
}
