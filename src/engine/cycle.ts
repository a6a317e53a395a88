/**
 * One cycle of the loop: claim until nothing more is due (in lanes), poll, look for invalid rows
 * now and then, and say how long to sleep. The claiming stops at once when the broker link goes
 * or blocks, or the engine stops.
 */
import type { Claimer } from "./claimer.ts";
import type { Clock } from "./clock.ts";
import type { Report } from "./events.ts";
import { drainInLanes } from "./lanes.ts";
import type { Links } from "./links.ts";
import type { EngineStore, PollResult, Publisher } from "./ports.ts";
import type { StatusKeeper } from "./status.ts";

/**
 * Claim transactions in flight at once during a drain (docs/design.md §6). Two let one lane's
 * database work overlap another's wait for confirms, which leaves RabbitMQ the busiest process;
 * a third adds memory and connections for a gain within the noise (docs/performance.md).
 */
export const CLAIM_LANES = 2;
const CONTENTION_MIN_MS = 25;
const CONTENTION_MAX_MS = 1_000;

interface CycleDeps {
  readonly store: EngineStore;
  readonly clock: Clock;
  readonly report: Report;
  readonly status: StatusKeeper;
  readonly links: Links;
  readonly claimer: Claimer;
  readonly options: { readonly pollIntervalMs: number; readonly lookAheadMs: number };
  readonly invalidScanIntervalMs: number;
  readonly stopping: () => boolean;
  /** A claim went through (a table lock is over). */
  readonly claimed: () => void;
  readonly db: <T>(doing: string, action: () => Promise<T>) => Promise<T>;
}

/** Claims until no more is due, then polls; returns how long to sleep. */
export type Cycle = (current: Publisher) => Promise<number>;

export function createCycle(deps: CycleDeps): Cycle {
  const { store, clock, report, status, links, claimer, options, db } = deps;
  let lastPollLocal = clock.local();
  let contentionMs = 0;
  let nextInvalidScan = 0;

  /** One poll: the clock offset and every poll-time gauge. Also run during long drains. */
  async function pollOnce(): Promise<PollResult> {
    const before = clock.local();
    const result = await db("polling", () => store.poll(options.lookAheadMs, claimer.setAsideIds()));
    clock.observe(result.dbNowMs, before, clock.local());
    lastPollLocal = clock.local();
    status.progressed();
    report({ type: "polled", result });
    return result;
  }

  async function scanInvalid(): Promise<void> {
    if (clock.local() < nextInvalidScan) return;
    nextInvalidScan = clock.local() + deps.invalidScanIntervalMs;
    const invalid = await db("looking for invalid rows", () => store.findInvalid());
    const pausedNow = await db("counting paused schedules", () => store.countPaused());
    report({ type: "scanned", invalid, setAside: claimer.setAsideIds().length, pausedNow });
  }

  /** Claims until no more is due, in up to {@link CLAIM_LANES} lanes (src/engine/lanes.ts). */
  function drain(current: Publisher): Promise<number> {
    return drainInLanes({
      lanes: CLAIM_LANES,
      shouldStop: () => deps.stopping() || !current.connected || links.isBlocked(current),
      beforeFirstLaneClaim: async () => {
        if (clock.local() - lastPollLocal >= options.pollIntervalMs) await pollOnce();
      },
      claim: async () => {
        const batch = await claimer.claimAndFire(current);
        status.progressed();
        deps.claimed();
        return batch;
      },
    });
  }

  return async function cycle(current) {
    const claimedTotal = await drain(current);
    if (deps.stopping()) return 0;
    const result = await pollOnce();
    await scanInvalid();

    // Blocked: the unblock wakes the loop; the poll interval only keeps the gauges fresh.
    if (result.nextSlotMs === null || links.isBlocked(current)) return options.pollIntervalMs;
    if (result.nextSlotMs <= result.dbNowMs) {
      // Due but not ours: another replica holds the lock, or it became due a moment ago.
      // Back off a little each time we claimed nothing, so a held lock never makes a hot loop.
      contentionMs = claimedTotal > 0 ? 0 : Math.min(CONTENTION_MAX_MS, Math.max(CONTENTION_MIN_MS, contentionMs * 2));
      return contentionMs;
    }
    contentionMs = 0;
    // Aim 1 ms past the slot so the claim's now() has reached it.
    return Math.min(options.pollIntervalMs, clock.msUntil(result.nextSlotMs) + 1);
  };
}
