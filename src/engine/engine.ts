/**
 * The engine: one loop that claims and fires what is due, polls for what comes next, and sleeps
 * until then. Being a single loop, two cycles can never overlap, and `stop()` just waits for it.
 * It depends only on interfaces (store, publisher, clock, report), so it is tested against fakes
 * too. The parts: src/engine/links.ts (the two links, flow control), cycle.ts (claim, poll,
 * sleep), outage.ts (what a failure leads to), status.ts (what readiness says). Design notes:
 * docs/design.md §1–§20.
 */

import { createAlarm } from "./alarm.ts";
import { type ClaimOptions, createClaimer } from "./claimer.ts";
import type { Clock } from "./clock.ts";
import { createCycle } from "./cycle.ts";
import { databaseFailure } from "./dependency.ts";
import type { EngineStatus, Report } from "./events.ts";
import { createLinks } from "./links.ts";
import { createOutages } from "./outage.ts";
import type { EngineStore, Publisher } from "./ports.ts";
import { createStatusKeeper } from "./status.ts";
import { DEFAULT_TIMING, type EngineTiming } from "./timing.ts";

export { CLAIM_LANES } from "./cycle.ts";

export interface EngineOptions extends ClaimOptions {
  readonly pollIntervalMs: number;
  readonly lookAheadMs: number;
  /** Consecutive failed attempts AT START-UP before giving up; 0 = never. */
  readonly maxRetries: number;
  /** Once running: how long a dependency may stay lost before giving up; 0 = never. */
  readonly maxOutageMs?: number;
}

export interface EngineDeps {
  readonly store: EngineStore;
  /** `onChange`: the link was lost, blocked or unblocked; the engine looks again at once. */
  readonly connectPublisher: (onChange: () => void) => Promise<Publisher>;
  readonly clock: Clock;
  /** Where every event goes (src/observe/reporter.ts in the service). */
  readonly report: Report;
  readonly options: EngineOptions;
}

export interface Engine {
  /** Resolves when the loop ends: 0 after `stop()`, 1 after giving up on a dependency. */
  readonly done: Promise<0 | 1>;
  /** Claim and poll now (a NOTIFY arrived); ignored while backing off. */
  wake(): void;
  /** Stops timers and polls; resolves after the claim transaction in flight has finished. */
  stop(): Promise<0 | 1>;
  status(): EngineStatus;
}

/** Starts the loop. `timing` is the production pace unless a test's harness passes its own. */
export function startEngine(deps: EngineDeps, timing: EngineTiming = DEFAULT_TIMING): Engine {
  const { store, clock, report, options } = deps;
  const status = createStatusKeeper(clock, report);
  const alarm = createAlarm();
  let stopping = false;

  async function db<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      const failure = databaseFailure(doing, error);
      // A lost connection needs a reconnect (and a new "established" line); an SQL error does not.
      if (failure.lost) status.set({ database: "down" });
      throw failure.error;
    }
  }
  const claimer = createClaimer({ store, clock, report, options, db });
  const links = createLinks({ ...deps, status, alarm, timing, db });
  const outages = createOutages({ status, clock, report, alarm, timing, options });
  const cycle = createCycle({
    store,
    clock,
    report,
    status,
    links,
    claimer,
    options,
    invalidScanIntervalMs: timing.invalidScanIntervalMs(options.pollIntervalMs),
    stopping: () => stopping,
    claimed: outages.lockReleased,
    db,
  });

  async function loop(): Promise<0 | 1> {
    /** Start-up ends with the first complete cycle: from then on an outage never ends the process by itself. */
    let running = false;
    while (!stopping) {
      status.progressed();
      try {
        const current = await links.ensure();
        // A wake that arrives during the cycle below must still cut the following sleep short.
        alarm.clearWake();
        const sleepMs = await cycle(current);
        outages.cycleCompleted();
        running = true;
        await alarm.sleep(sleepMs);
      } catch (error) {
        if (stopping) break;
        if ((await outages.failed(error, running)) !== null) return 1;
      }
    }
    return 0;
  }

  const done = loop().finally(() => links.close());

  return {
    done,
    wake: () => alarm.wake(),
    async stop() {
      stopping = true;
      alarm.stop();
      return done;
    },
    status: status.get,
  };
}
