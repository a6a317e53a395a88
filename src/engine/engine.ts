/**
 * The engine: one loop that claims and fires what is due, polls for what comes next, and sleeps
 * until then. Being a single loop, two cycles can never overlap, and `stop()` just waits for it.
 * It depends only on interfaces (store, publisher, clock, report), so it is tested against fakes
 * too. It keeps its own status and reports what happens as events; src/observe/reporter.ts turns those
 * into log lines and counters. Design notes: docs/design.md §1–§20.
 */

import { createAlarm } from "./alarm.ts";
import { backoffDelay } from "./backoff.ts";
import { type ClaimOptions, createClaimer } from "./claimer.ts";
import type { Clock } from "./clock.ts";
import {
  brokerConnectFailure,
  DependencyError,
  databaseFailure,
  giveUpReason,
  isPermanentRefusal,
  TableLockedError,
} from "./dependency.ts";
import type { EngineStatus, Report } from "./events.ts";
import { drainInLanes } from "./lanes.ts";
import type { EngineStore, PollResult, Publisher } from "./ports.ts";

export interface EngineOptions extends ClaimOptions {
  readonly pollIntervalMs: number;
  readonly lookAheadMs: number;
  /** Consecutive failed attempts AT START-UP before giving up; 0 = never. */
  readonly maxRetries: number;
  /** Once running: how long a dependency may stay lost before giving up; 0 = never. */
  readonly maxOutageMs?: number;
  /** How often to look for invalid rows (a table scan). */
  readonly invalidScanIntervalMs?: number;
}

export interface EngineDeps {
  readonly store: EngineStore;
  /** `onChange`: the link was lost, blocked or unblocked; the engine looks again at once. */
  readonly connectPublisher: (onChange: () => void) => Promise<Publisher>;
  readonly clock: Clock;
  /** Where every event goes (src/observe/reporter.ts in the service). */
  readonly report: Report;
  readonly options: EngineOptions;
  /** Injectable for tests; defaults to `backoffDelay`. */
  readonly retryDelay?: (attempt: number) => number;
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

const CONTENTION_MIN_MS = 25;
const CONTENTION_MAX_MS = 1_000;
/**
 * Claim transactions in flight at once during a drain (see `drain`; docs/design.md §6). Two let
 * one lane's database work overlap another's wait for confirms, which leaves RabbitMQ the busiest
 * process; a third adds memory and connections for a gain within the noise (docs/performance.md).
 */
export const CLAIM_LANES = 2;
/** Between attempts on a locked table; each attempt itself waits up to lock_timeout in the queue. */
const LOCKED_RETRY_MS = 100;

export function startEngine(deps: EngineDeps): Engine {
  const { store, clock, report, options } = deps;
  const retryDelay = deps.retryDelay ?? ((attempt: number) => backoffDelay(attempt));
  const invalidScanMs = options.invalidScanIntervalMs ?? Math.max(options.pollIntervalMs, 60_000);
  let status: EngineStatus = {
    database: "down",
    broker: "down",
    failures: 0,
    outageSinceLocal: null,
    lastProgressLocal: clock.local(),
    tableLocked: false,
  };
  let publisher: Publisher | null = null;
  let stopping = false;
  const alarm = createAlarm();
  let lastPollLocal = clock.local();
  let contentionMs = 0;
  let nextInvalidScan = 0;
  let blockedSinceLocal: number | null = null;
  let lockedSinceLocal = 0;

  function setStatus(change: Partial<EngineStatus>): void {
    const before = status;
    status = { ...status, ...change };
    if (status.database !== before.database || status.broker !== before.broker) report({ type: "status", status });
  }
  const progressed = () => setStatus({ lastProgressLocal: clock.local() });

  /** The broker link changed (lost, blocked, unblocked): readiness now, and a look unless backing off. */
  const onPublisherChange = () => {
    if (!publisher?.connected) setStatus({ broker: "down" });
    else if (publisher.blocked) setStatus({ broker: "blocked" });
    alarm.wake();
  };

  async function db<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      const failure = databaseFailure(doing, error);
      // A lost connection needs a reconnect (and a new "established" line); an SQL error does not.
      if (failure.lost) setStatus({ database: "down" });
      throw failure.error;
    }
  }
  const claimer = createClaimer({ store, clock, report, options, db });

  async function ensureConnected(): Promise<Publisher> {
    if (status.database === "down") {
      const server = await db("connecting", () => store.ping());
      setStatus({ database: "up" });
      report({ type: "connected", dependency: "PostgreSQL", where: server ?? null });
    }
    if (!publisher?.connected) {
      setStatus({ broker: "down" });
      const stale = publisher;
      publisher = null;
      if (stale) report({ type: "link lost", reason: stale.closedReason ?? "unknown", where: stale.where ?? null });
      await stale?.close().catch(() => {});
      try {
        publisher = await deps.connectPublisher(onPublisherChange);
      } catch (error) {
        throw brokerConnectFailure(error);
      }
      setStatus({ broker: "up" });
      report({ type: "connected", dependency: "RabbitMQ", where: publisher.where ?? null });
    }
    return publisher;
  }

  async function scanInvalid(): Promise<void> {
    if (clock.local() < nextInvalidScan) return;
    nextInvalidScan = clock.local() + invalidScanMs;
    const invalid = await db("looking for invalid rows", () => store.findInvalid());
    const pausedNow = await db("counting paused schedules", () => store.countPaused());
    report({ type: "scanned", invalid, setAside: claimer.setAsideIds().length, pausedNow });
  }

  /**
   * Flow control (connection.blocked: a memory or disk alarm): the broker would hold our
   * publishes, so claiming would only lock rows for nothing. Not ready until it lifts; the
   * unblock wakes the loop. This is not a failure.
   */
  function isBlocked(current: Publisher): boolean {
    if (current.blocked) {
      if (blockedSinceLocal === null) {
        blockedSinceLocal = clock.local();
        report({ type: "blocked" });
      }
      setStatus({ broker: "blocked" });
      return true;
    }
    if (blockedSinceLocal !== null) {
      report({ type: "unblocked", afterMs: clock.local() - blockedSinceLocal });
      blockedSinceLocal = null;
    }
    setStatus({ broker: "up" });
    return false;
  }

  /** One poll: the clock offset and every poll-time gauge. Also run during long drains. */
  async function pollOnce(): Promise<PollResult> {
    const before = clock.local();
    const result = await db("polling", () => store.poll(options.lookAheadMs, claimer.setAsideIds()));
    clock.observe(result.dbNowMs, before, clock.local());
    lastPollLocal = clock.local();
    progressed();
    report({ type: "polled", result });
    return result;
  }

  /** Claims until no more is due, in up to {@link CLAIM_LANES} lanes (src/engine/lanes.ts). */
  function drain(current: Publisher): Promise<number> {
    return drainInLanes({
      lanes: CLAIM_LANES,
      shouldStop: () => stopping || !current.connected || isBlocked(current),
      beforeFirstLaneClaim: async () => {
        if (clock.local() - lastPollLocal >= options.pollIntervalMs) await pollOnce();
      },
      claim: async () => {
        const batch = await claimer.claimAndFire(current);
        progressed();
        if (status.tableLocked) {
          report({ type: "table unlocked", afterMs: clock.local() - lockedSinceLocal });
          setStatus({ tableLocked: false });
        }
        return batch;
      },
    });
  }

  /** Claims until no more is due, then polls; returns how long to sleep. */
  async function cycle(current: Publisher): Promise<number> {
    const claimedTotal = await drain(current);
    if (stopping) return 0;
    const result = await pollOnce();
    await scanInvalid();

    if (result.nextSlotMs === null || status.broker === "blocked") return options.pollIntervalMs;
    if (result.nextSlotMs <= result.dbNowMs) {
      // Due but not ours: another replica holds the lock, or it became due a moment ago.
      // Back off a little each time we claimed nothing, so a held lock never makes a hot loop.
      contentionMs = claimedTotal > 0 ? 0 : Math.min(CONTENTION_MAX_MS, Math.max(CONTENTION_MIN_MS, contentionMs * 2));
      return contentionMs;
    }
    contentionMs = 0;
    // Aim 1 ms past the slot so the claim's now() has reached it.
    return Math.min(options.pollIntervalMs, clock.msUntil(result.nextSlotMs) + 1);
  }

  /** A failed iteration: decide between waiting, retrying and giving up. Returns an exit code to give up with. */
  async function failed(error: unknown, running: boolean): Promise<1 | null> {
    if (error instanceof TableLockedError) {
      // Nothing was claimed or published: wait for the lock, which is neither an outage nor a failure.
      if (!status.tableLocked) {
        lockedSinceLocal = clock.local();
        setStatus({ tableLocked: true });
        report({ type: "table locked", doing: error.doing });
      }
      await alarm.backOff(LOCKED_RETRY_MS);
      return null;
    }
    // A cycle that recorded rows before it failed made progress, not an outage: start afresh,
    // both the attempt count and the outage clock (SCHEDULER_MAX_OUTAGE measures no progress).
    if (error instanceof DependencyError && error.progressed) setStatus({ failures: 0, outageSinceLocal: null });
    const failures = status.failures + 1;
    const dependency = error instanceof DependencyError ? error.dependency : "scheduler";
    if (dependency === "RabbitMQ") setStatus({ broker: "down" });
    if (status.outageSinceLocal === null) {
      setStatus({ outageSinceLocal: clock.local() });
      report({ type: "outage began", status });
    }
    setStatus({ failures });
    const why = giveUpReason({
      running,
      failures,
      maxRetries: options.maxRetries,
      outageMs: clock.local() - status.outageSinceLocal!,
      maxOutageMs: options.maxOutageMs ?? 0,
      permanent: isPermanentRefusal(error),
    });
    if (why !== null) {
      report({ type: "gave up", dependency, why, error });
      return 1;
    }
    const delayMs = retryDelay(failures);
    const limit = !running && options.maxRetries > 0 ? options.maxRetries : null;
    report({ type: "retrying", dependency, attempt: failures, limit, delayMs, error });
    await alarm.backOff(delayMs);
    return null;
  }

  async function loop(): Promise<0 | 1> {
    /** Start-up ends with the first complete cycle: from then on an outage never ends the process by itself. */
    let running = false;
    while (!stopping) {
      progressed();
      try {
        const current = await ensureConnected();
        // A wake that arrives during the cycle below must still cut the following sleep short.
        alarm.clearWake();
        const sleepMs = await cycle(current);
        if (status.failures > 0) {
          const since = status.outageSinceLocal;
          report({
            type: "recovered",
            failures: status.failures,
            outageMs: since === null ? null : clock.local() - since,
          });
        }
        setStatus({ failures: 0, outageSinceLocal: null });
        running = true;
        await alarm.sleep(sleepMs);
      } catch (error) {
        if (stopping) break;
        if ((await failed(error, running)) !== null) return 1;
      }
    }
    return 0;
  }

  const done = loop().finally(async () => {
    const current = publisher;
    publisher = null;
    setStatus({ broker: "down" });
    await current?.close().catch(() => {});
  });

  return {
    done,
    wake: () => alarm.wake(),
    async stop() {
      stopping = true;
      alarm.stop();
      return done;
    },
    status: () => status,
  };
}
