/**
 * The engine: one loop that claims and fires what is due, polls for what comes next, and sleeps
 * until then. Being a single loop, two cycles can never overlap, and `stop()` just waits for it.
 * It depends only on interfaces (store, publisher, clock), so it is tested against fakes too.
 * Design notes: README, "How scheduling works" and "Failure behaviour".
 */
import { backoffDelay } from "./backoff.ts";
import type { Publisher } from "./broker.ts";
import type { Clock } from "./clock.ts";
import { databaseFailure, DependencyError, isPermanentRefusal, TableLockedError, type Dependency } from "./dependency.ts";
import { fireBatch, type FireResult } from "./fire.ts";
import type { Logger } from "./log.ts";
import type { ClaimedRow } from "./message.ts";
import { applyTally, healthFailedLine, type Metrics } from "./metrics.ts";
import type { PlanOptions, RowUpdate } from "./plan.ts";
import type { BatchResult, ClaimRequest, InvalidRow, PollResult } from "./store.ts";

export { DependencyError };

export interface EngineStore {
  ping(): Promise<void>;
  poll(lookAheadMs: number, skipIds: readonly number[]): Promise<PollResult>;
  /** One claim transaction: lock due rows, let `fire` publish them, write its updates, commit. */
  claimBatch(request: ClaimRequest, fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>): Promise<BatchResult>;
  findInvalid(): Promise<InvalidRow[]>;
  countPaused(): Promise<number>;
}

export interface EngineOptions extends PlanOptions {
  readonly pollIntervalMs: number;
  readonly lookAheadMs: number;
  readonly batchSize: number;
  /** Message bytes per claim transaction (SCHEDULER_BATCH_BYTES); absent: unbounded. */
  readonly batchBytes?: number;
  readonly pauseAfterFailures: number;
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
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly options: EngineOptions;
  /** Injectable for tests; defaults to `backoffDelay`. */
  readonly retryDelay?: (attempt: number) => number;
  /** Where each dependency is (redacted), for the lines that say it cannot be reached. */
  readonly where?: Readonly<Partial<Record<Dependency, string>>>;
  /** Turns a dependency's error into the operator's line (cause, where, what to try). */
  readonly explain?: (dependency: Dependency, error: unknown) => string;
}

export interface Engine {
  /** Resolves when the loop ends: 0 after `stop()`, 1 after giving up on a dependency. */
  readonly done: Promise<0 | 1>;
  /** Claim and poll now (a NOTIFY arrived); ignored while backing off. */
  wake(): void;
  /** Stops timers and polls; resolves after the claim transaction in flight has finished. */
  stop(): Promise<0 | 1>;
  /** Local monotonic time of the loop's last progress (an iteration, a batch, a poll), for liveness. */
  lastTickLocal(): number;
}

const CONTENTION_MIN_MS = 25;
const CONTENTION_MAX_MS = 1_000;
/** Between attempts on a locked table; each attempt itself waits up to lock_timeout in the queue. */
const LOCKED_RETRY_MS = 100;

export function startEngine(deps: EngineDeps): Engine {
  const { store, clock, log, metrics, options } = deps;
  const retryDelay = deps.retryDelay ?? ((attempt: number) => backoffDelay(attempt));
  const explain = (dependency: Dependency, error: unknown) =>
    deps.explain?.(dependency, error) ?? (error instanceof Error ? error.message : String(error));
  const invalidScanMs = options.invalidScanIntervalMs ?? Math.max(options.pollIntervalMs, 60_000);
  const warnedInvalid = new Set<number>();
  /** Rows that cannot be planned or recorded: never claimed again by this process. */
  const setAside = new Map<number, string>();
  let publisher: Publisher | null = null;
  let brokerMaxBodyBytes: number | null = null;
  let stopping = false;
  let wakeNow: (() => void) | null = null;
  let wakeRequested = false;
  let lastTick = clock.local();
  let lastPollLocal = clock.local();
  let contentionMs = 0;
  let nextInvalidScan = 0;
  let backingOff = false;
  let blockedSince: number | null = null;
  let lockedSince: number | null = null;

  /** The broker link changed (lost, blocked, unblocked): readiness now, and a look unless backing off. */
  const onPublisherChange = () => {
    if (!publisher?.connected || publisher.blocked) metrics.mqUp = false;
    if (backingOff) return;
    wakeRequested = true;
    wakeNow?.();
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopping || wakeRequested || ms <= 0) return resolve();
      const timer = setTimeout(() => finish(), ms);
      const finish = () => {
        clearTimeout(timer);
        wakeNow = null;
        resolve();
      };
      wakeNow = finish;
    });

  async function db<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      const failure = databaseFailure(doing, error);
      // A lost connection needs a reconnect (and a new "established" line); an SQL error does not.
      if (failure.lost) metrics.dbUp = false;
      throw failure.error;
    }
  }

  async function ensureConnected(): Promise<Publisher> {
    if (!metrics.dbUp) {
      await db("connecting", () => store.ping());
      metrics.dbUp = true;
      log.info("Database connection pool established");
    }
    if (!publisher || !publisher.connected) {
      metrics.mqUp = false;
      const stale = publisher;
      publisher = null;
      if (stale) log.error("RabbitMQ connection lost; reconnecting", { reason: stale.closedReason ?? "unknown", where: deps.where?.RabbitMQ });
      await stale?.close().catch(() => {});
      try {
        publisher = await deps.connectPublisher(onPublisherChange);
      } catch (error) {
        throw new DependencyError("RabbitMQ", "connecting", error);
      }
      metrics.mqUp = true;
      log.info("RabbitMQ connection established");
    }
    return publisher;
  }

  /** The message size limit in force: ours, or the broker's once it refused a larger message. */
  function planOptions(): PlanOptions & { pauseAfterFailures: number } {
    if (brokerMaxBodyBytes === null || brokerMaxBodyBytes >= options.maxMessageBytes) return options;
    return { ...options, brokerMaxBodyBytes };
  }

  function setRowAside(id: number, reason: string): void {
    if (setAside.has(id)) return;
    setAside.set(id, reason);
    log.warn(`Schedule ${id} is set aside until the scheduler restarts: ${reason}`);
  }

  /** One claim transaction; returns whether more rows may be due right now. */
  async function claimAndFire(current: Publisher): Promise<{ claimed: number; more: boolean }> {
    let fired: FireResult | null = null;
    const request: ClaimRequest = { limit: options.batchSize, budgetBytes: options.batchBytes, skipIds: [...setAside.keys()] };
    let batch: BatchResult;
    try {
      batch = await db("claiming due schedules", () =>
        store.claimBatch(request, async (rows, dbNowMs) => {
          fired = await fireBatch({ publisher: current, clock, options: planOptions() }, rows, dbNowMs);
          return fired.updates;
        }),
      );
    } finally {
      brokerMaxBodyBytes = current.maxBodyBytes ?? brokerMaxBodyBytes;
    }
    const result = fired as FireResult | null;
    if (result === null) return { claimed: 0, more: false };
    // ORDER: counters and log lines only now, after the commit that recorded these outcomes.
    applyTally(metrics, result.tally);
    for (const row of result.unplannable) setRowAside(row.id, row.message);
    for (const row of batch.rejected) {
      metrics.failures += 1;
      if (row.movedOn) log.warn(`Schedule ${row.id}: the database refused its outcome (${row.reason}); moved on to its next slot with last_error saying so`);
      else setRowAside(row.id, `the database refused its outcome (${row.reason})`);
    }
    if (result.tally.failed.length > 0) {
      log.warn(`${result.tally.failed.length} fire(s) failed and moved on`, { first: result.tally.failed[0] });
      for (const failure of result.tally.failed) log.debug(`fire failed: ${failure}`);
    }
    // ORDER: the confirmed rows above are committed first; only then do we give up on the link.
    if (result.unknown !== null) {
      throw new DependencyError("RabbitMQ", "publishing", new Error(`interrupted: ${result.unknown}`), result.updates.length > 0);
    }
    const more = batch.locked >= options.batchSize || batch.claimed < batch.locked || result.retry > 0;
    return { claimed: batch.claimed, more };
  }

  async function scanInvalid(): Promise<void> {
    if (clock.local() < nextInvalidScan) return;
    nextInvalidScan = clock.local() + invalidScanMs;
    const invalid = await db("looking for invalid rows", () => store.findInvalid());
    metrics.pausedNow = await db("counting paused schedules", () => store.countPaused());
    metrics.invalidRows = invalid.length + setAside.size;
    for (const row of invalid) {
      if (warnedInvalid.has(row.id)) continue;
      warnedInvalid.add(row.id);
      log.warn(`Schedule ${row.id} is active but invalid (${row.reason}); it will not be fired until fixed`);
    }
  }

  /**
   * Flow control (connection.blocked: a memory or disk alarm): the broker would hold our
   * publishes, so claiming would only lock rows for nothing. Not ready until it lifts; the
   * unblock wakes the loop. This is not a failure.
   */
  function isBlocked(current: Publisher): boolean {
    if (current.blocked) {
      metrics.mqUp = false;
      if (blockedSince === null) {
        blockedSince = clock.local();
        log.warn("RabbitMQ is blocking publishes (memory or disk alarm); not claiming until it lifts");
      }
      return true;
    }
    if (blockedSince !== null) {
      log.info(`RabbitMQ unblocked after ${((clock.local() - blockedSince) / 1000).toFixed(1)}s; claiming again`);
      blockedSince = null;
      metrics.mqUp = true;
    }
    return false;
  }

  /** One poll: the clock offset and every poll-time gauge. Also run during long drains. */
  async function pollOnce(): Promise<PollResult> {
    const before = clock.local();
    const result = await db("polling", () => store.poll(options.lookAheadMs, [...setAside.keys()]));
    clock.observe(result.dbNowMs, before, clock.local());
    lastPollLocal = lastTick = clock.local();
    metrics.checks += 1;
    metrics.lastCheckMs = result.dbNowMs;
    metrics.dueBacklog = result.dueCount;
    const overdue = result.nextSlotMs !== null && result.nextSlotMs <= result.dbNowMs;
    metrics.oldestOverdueSeconds = overdue ? (result.dbNowMs - result.nextSlotMs!) / 1000 : 0;
    return result;
  }

  /** Claims until no more is due, then polls; returns how long to sleep. */
  async function cycle(current: Publisher): Promise<number> {
    let claimedTotal = 0;
    while (!isBlocked(current)) {
      if (stopping) return 0;
      if (clock.local() - lastPollLocal >= options.pollIntervalMs) await pollOnce();
      const batch = await claimAndFire(current);
      lastTick = clock.local();
      if (lockedSince !== null) {
        log.info(`scheduled_workflows is no longer locked after ${((clock.local() - lockedSince) / 1000).toFixed(1)}s; claiming again`);
        lockedSince = null;
      }
      claimedTotal += batch.claimed;
      if (!batch.more) break;
    }
    const result = await pollOnce();
    await scanInvalid();

    if (result.nextSlotMs === null || blockedSince !== null) return options.pollIntervalMs;
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

  /** Sleeps without being woken: a NOTIFY or a broker event never shortens a back-off. */
  async function backOff(ms: number): Promise<void> {
    backingOff = true;
    wakeRequested = false;
    await sleep(ms);
    backingOff = false;
  }

  async function loop(): Promise<0 | 1> {
    let failures = 0;
    let outageSince: number | null = null;
    /** Start-up ends with the first complete cycle: from then on an outage never ends the process by itself. */
    let running = false;
    while (!stopping) {
      lastTick = clock.local();
      try {
        const current = await ensureConnected();
        // A wake that arrives during the cycle below must still cut the following sleep short.
        wakeRequested = false;
        const sleepMs = await cycle(current);
        if (failures > 0) {
          const lasted = outageSince === null ? "" : ` (${((clock.local() - outageSince) / 1000).toFixed(1)}s)`;
          log.info(`Recovered after ${failures} failed attempt(s)${lasted}`);
        }
        failures = 0;
        outageSince = null;
        running = true;
        await sleep(sleepMs);
      } catch (error) {
        if (stopping) break;
        if (error instanceof TableLockedError) {
          // Nothing was claimed or published: wait for the lock, which is neither an outage nor a failure.
          if (lockedSince === null) {
            lockedSince = clock.local();
            log.warn(`scheduled_workflows is locked by another session (a CREATE INDEX without CONCURRENTLY, an ALTER TABLE?); nothing is claimed or published until it is released`, { waiting_on: error.doing });
          }
          await backOff(LOCKED_RETRY_MS);
          continue;
        }
        // A cycle that recorded rows before it failed made progress: start counting afresh.
        if (error instanceof DependencyError && error.progressed) failures = 0;
        failures += 1;
        const dependency = error instanceof DependencyError ? error.dependency : "scheduler";
        if (dependency === "RabbitMQ") metrics.mqUp = false;
        if (outageSince === null) {
          outageSince = clock.local();
          log.error(healthFailedLine(metrics));
        }
        const where = error instanceof DependencyError ? deps.where?.[error.dependency] : undefined;
        const reason =
          error instanceof DependencyError ? `${error.doing}: ${explain(error.dependency, error.cause)}` : (error as Error).message;
        const outageMs = clock.local() - outageSince;
        const giveUp = !running
          ? isPermanentRefusal(error)
            ? "refused for good at start-up; fix the configuration"
            : options.maxRetries > 0 && failures >= options.maxRetries
              ? `failed ${failures} consecutive times at start-up (SCHEDULER_MAX_RETRIES=${options.maxRetries})`
              : null
          : (options.maxOutageMs ?? 0) > 0 && outageMs >= options.maxOutageMs!
            ? `unavailable for ${(outageMs / 1000).toFixed(1)}s (SCHEDULER_MAX_OUTAGE=${options.maxOutageMs! / 1000})`
            : null;
        if (giveUp !== null) {
          log.critical(`${dependency} ${giveUp}; giving up`, { where, error: reason });
          return 1;
        }
        const delay = retryDelay(failures);
        const limit = !running && options.maxRetries > 0 ? `/${options.maxRetries}` : "";
        log.error(`${dependency} failed (attempt ${failures}${limit}); retrying in ${(delay / 1000).toFixed(1)}s`, { where, error: reason });
        await backOff(delay);
      }
    }
    return 0;
  }

  const done = loop().finally(async () => {
    const current = publisher;
    publisher = null;
    metrics.mqUp = false;
    await current?.close().catch(() => {});
  });

  return {
    done,
    wake() {
      if (backingOff) return;
      wakeRequested = true;
      wakeNow?.();
    },
    async stop() {
      stopping = true;
      wakeNow?.();
      return done;
    },
    lastTickLocal: () => lastTick,
  };
}
