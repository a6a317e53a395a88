/**
 * What the loop does after a failed iteration (docs/design.md §13): wait out a table lock, or
 * count the failure, decide whether to give up, report at growing intervals, and wait a short,
 * jittered interval before trying again. Attempts come every second however long the outage,
 * so the first fire after a dependency is back follows within about a second; reports come at
 * the back-off's pace (1 s doubling to 30 s), so the log stays quiet.
 */
import type { Alarm } from "./alarm.ts";
import type { Clock } from "./clock.ts";
import { DependencyError, giveUpReason, isPermanentRefusal, TableLockedError } from "./dependency.ts";
import type { Report } from "./events.ts";
import type { StatusKeeper } from "./status.ts";
import type { EngineTiming } from "./timing.ts";

/** Between attempts on a locked table; each attempt itself waits up to lock_timeout in the queue. */
const LOCKED_RETRY_MS = 100;

interface OutageDeps {
  readonly status: StatusKeeper;
  readonly clock: Clock;
  readonly report: Report;
  readonly alarm: Alarm;
  readonly timing: EngineTiming;
  readonly options: { readonly maxRetries: number; readonly maxOutageMs?: number };
}

export interface Outages {
  /** A failed iteration: waits before the next attempt, or returns 1 to give up with. */
  failed(error: unknown, running: boolean): Promise<1 | null>;
  /** A claim went through: a table lock, if any, is over (said once). */
  lockReleased(): void;
  /** A cycle went through: the outage (and any lock) is over, said once. */
  cycleCompleted(): void;
}

export function createOutages({ status, clock, report, alarm, timing, options }: OutageDeps): Outages {
  /** Local time of the next report of the current outage. */
  let nextReportLocal = 0;
  let lockedSinceLocal = 0;

  async function waitForLock(error: TableLockedError): Promise<null> {
    // Nothing was claimed or published: wait for the lock, which is neither an outage nor a failure.
    if (!status.get().tableLocked) {
      lockedSinceLocal = clock.local();
      status.set({ tableLocked: true });
      report({ type: "table locked", doing: error.doing });
    }
    await alarm.backOff(LOCKED_RETRY_MS);
    return null;
  }

  async function failed(error: unknown, running: boolean): Promise<1 | null> {
    if (error instanceof TableLockedError) return waitForLock(error);
    // A cycle that recorded rows before it failed made progress, not an outage: start afresh,
    // both the attempt count and the outage clock (SCHEDULER_MAX_OUTAGE measures no progress).
    if (error instanceof DependencyError && error.progressed) status.set({ failures: 0, outageSinceLocal: null });
    const dependency = error instanceof DependencyError ? error.dependency : "scheduler";
    if (dependency === "RabbitMQ") status.set({ broker: "down" });
    status.set({ failing: dependency });
    const now = clock.local();
    if (status.get().outageSinceLocal === null) {
      status.set({ outageSinceLocal: now });
      report({ type: "outage began", status: status.get() });
    }
    // A report is due at the first failure and then at the back-off's pace; the failures
    // between reports are the quiet attempts of the fixed interval.
    const reportDue = status.get().failures === 0 || now >= nextReportLocal;
    const failures = status.get().failures + (reportDue ? 1 : 0);
    status.set({ failures });
    const why = giveUpReason({
      running,
      failures,
      maxRetries: options.maxRetries,
      outageMs: now - status.get().outageSinceLocal!,
      maxOutageMs: options.maxOutageMs ?? 0,
      permanent: isPermanentRefusal(error),
    });
    if (why !== null) {
      report({ type: "gave up", dependency, why, error });
      return 1;
    }
    let waitMs = timing.probeDelay();
    if (reportDue) {
      const nextReportMs = timing.retryDelay(failures);
      nextReportLocal = now + nextReportMs;
      const limit = !running && options.maxRetries > 0 ? options.maxRetries : null;
      report({ type: "retrying", dependency, attempt: failures, limit, nextReportMs, error });
      // The first back-off (0.5–1 s) is shorter than the interval: a blip is retried that soon.
      waitMs = Math.min(waitMs, nextReportMs);
    }
    await alarm.backOff(waitMs);
    return null;
  }

  function lockReleased(): void {
    if (!status.get().tableLocked) return;
    report({ type: "table unlocked", afterMs: clock.local() - lockedSinceLocal });
    status.set({ tableLocked: false });
  }

  function cycleCompleted(): void {
    lockReleased();
    const current = status.get();
    if (current.failures > 0) {
      const since = current.outageSinceLocal;
      report({
        type: "recovered",
        failures: current.failures,
        outageMs: since === null ? null : clock.local() - since,
      });
    }
    status.set({ failures: 0, failing: null, outageSinceLocal: null });
  }

  return { failed, lockReleased, cycleCompleted };
}
