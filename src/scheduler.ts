/**
 * The engine: one loop that claims and fires what is due, polls for what comes next, and sleeps
 * until then. Being a single loop, two cycles can never overlap, and `stop()` just waits for it.
 * It depends only on interfaces (store, publisher, clock), so it is tested against fakes too.
 * Design notes: README, "How scheduling works" and "Failure behaviour".
 */
import { backoffDelay } from "./backoff.ts";
import type { Publisher } from "./broker.ts";
import type { Clock } from "./clock.ts";
import { isConnectionError } from "./db.ts";
import { fireBatch } from "./fire.ts";
import type { Logger } from "./log.ts";
import type { ClaimedRow } from "./message.ts";
import type { Metrics } from "./metrics.ts";
import type { PlanOptions, RowUpdate } from "./plan.ts";
import type { InvalidRow, PollResult } from "./store.ts";

export interface EngineStore {
  ping(): Promise<void>;
  poll(lookAheadMs: number): Promise<PollResult>;
  /** One claim transaction: lock due rows, let `fire` publish them, write its updates, commit. */
  claimBatch(limit: number, fire: (rows: ClaimedRow[], dbNowMs: number) => Promise<RowUpdate[]>): Promise<number>;
  findInvalid(): Promise<InvalidRow[]>;
  countPaused(): Promise<number>;
}

export interface EngineOptions extends PlanOptions {
  readonly pollIntervalMs: number;
  readonly lookAheadMs: number;
  readonly batchSize: number;
  readonly pauseAfterFailures: number;
  /** Consecutive failed cycles before giving up; 0 = never. */
  readonly maxRetries: number;
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
  readonly where?: Readonly<Partial<Record<DependencyError["dependency"], string>>>;
}

export interface Engine {
  /** Resolves when the loop ends: 0 after `stop()`, 1 after giving up on a dependency. */
  readonly done: Promise<0 | 1>;
  /** Claim and poll now (a NOTIFY arrived). */
  wake(): void;
  /** Stops timers and polls; resolves after the claim transaction in flight has finished. */
  stop(): Promise<0 | 1>;
  /** Local monotonic time of the loop's last iteration, for liveness. */
  lastTickLocal(): number;
}

/** A failure of one dependency, named so the operator knows where to look. */
export class DependencyError extends Error {
  constructor(
    readonly dependency: "PostgreSQL" | "RabbitMQ",
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = "DependencyError";
  }
}

export { isConnectionError };

const CONTENTION_MIN_MS = 25;
const CONTENTION_MAX_MS = 1_000;

export function startEngine(deps: EngineDeps): Engine {
  const { store, clock, log, metrics, options } = deps;
  const retryDelay = deps.retryDelay ?? ((attempt: number) => backoffDelay(attempt));
  const invalidScanMs = options.invalidScanIntervalMs ?? Math.max(options.pollIntervalMs, 60_000);
  const warnedInvalid = new Set<number>();
  let publisher: Publisher | null = null;
  let stopping = false;
  let wakeNow: (() => void) | null = null;
  let wakeRequested = false;
  let lastTick = clock.local();
  let contentionMs = 0;
  let nextInvalidScan = 0;
  let backingOff = false;
  let blockedSince: number | null = null;

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

  async function db<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof DependencyError) throw error;
      // A lost connection needs a reconnect (and a new "established" line); an SQL error does not.
      if (isConnectionError(error)) metrics.dbUp = false;
      throw new DependencyError("PostgreSQL", `${what} failed: ${(error as Error).message}`, error);
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
        throw new DependencyError("RabbitMQ", `connecting failed: ${(error as Error).message}`, error);
      }
      metrics.mqUp = true;
      log.info("RabbitMQ connection established");
    }
    return publisher;
  }

  async function claimAndFire(current: Publisher): Promise<number> {
    let unknown: string | null = null;
    const claimed = await db("claiming due schedules", () =>
      store.claimBatch(options.batchSize, async (rows, dbNowMs) => {
        const result = await fireBatch({ publisher: current, clock, metrics, log, options }, rows, dbNowMs);
        unknown = result.unknown;
        return result.updates;
      }),
    );
    // ORDER: the confirmed rows above are committed first; only then do we give up on the link.
    if (unknown !== null) throw new DependencyError("RabbitMQ", `publishing interrupted: ${unknown}`);
    return claimed;
  }

  async function scanInvalid(): Promise<void> {
    if (clock.local() < nextInvalidScan) return;
    nextInvalidScan = clock.local() + invalidScanMs;
    const invalid = await db("looking for invalid rows", () => store.findInvalid());
    metrics.pausedNow = await db("counting paused schedules", () => store.countPaused());
    metrics.invalidRows = invalid.length;
    for (const row of invalid) {
      if (warnedInvalid.has(row.id)) continue;
      warnedInvalid.add(row.id);
      log.warn(`Schedule ${row.id} is active but invalid (${row.reason}); it will not be fired until fixed`);
    }
  }

  /**
   * Flow control (connection.blocked: a memory or disk alarm): the broker would hold our
   * publishes, so claiming would only lock rows for nothing. Not ready until it lifts; the
   * unblock wakes the loop. This is not a failure and does not count toward MAX_RETRIES.
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

  /** Claims until a batch comes back short, then polls; returns how long to sleep. */
  async function cycle(current: Publisher): Promise<number> {
    let claimedTotal = 0;
    while (!isBlocked(current)) {
      if (stopping) return 0;
      const claimed = await claimAndFire(current);
      claimedTotal += claimed;
      if (claimed < options.batchSize) break;
    }
    const before = clock.local();
    const result = await db("polling", () => store.poll(options.lookAheadMs));
    clock.observe(result.dbNowMs, before, clock.local());
    metrics.checks += 1;
    metrics.lastCheckMs = result.dbNowMs;
    metrics.dueBacklog = result.dueCount;
    const overdue = result.nextSlotMs !== null && result.nextSlotMs <= result.dbNowMs;
    metrics.oldestOverdueSeconds = overdue ? (result.dbNowMs - result.nextSlotMs!) / 1000 : 0;
    await scanInvalid();

    if (result.nextSlotMs === null || blockedSince !== null) return options.pollIntervalMs;
    if (overdue) {
      // Due but not ours: another replica holds the lock, or it became due a moment ago.
      // Back off a little each time we claimed nothing, so a held lock never makes a hot loop.
      contentionMs = claimedTotal > 0 ? 0 : Math.min(CONTENTION_MAX_MS, Math.max(CONTENTION_MIN_MS, contentionMs * 2));
      return contentionMs;
    }
    contentionMs = 0;
    // Aim 1 ms past the slot so the claim's now() has reached it.
    return Math.min(options.pollIntervalMs, clock.msUntil(result.nextSlotMs) + 1);
  }

  async function loop(): Promise<0 | 1> {
    let failures = 0;
    while (!stopping) {
      lastTick = clock.local();
      try {
        const current = await ensureConnected();
        // A wake that arrives during the cycle below must still cut the following sleep short.
        wakeRequested = false;
        const sleepMs = await cycle(current);
        if (failures > 0) log.info(`Recovered after ${failures} failed attempt(s)`);
        failures = 0;
        await sleep(sleepMs);
      } catch (error) {
        if (stopping) break;
        failures += 1;
        const dependency = error instanceof DependencyError ? error.dependency : "scheduler";
        if (dependency === "RabbitMQ") metrics.mqUp = false;
        const where = error instanceof DependencyError ? deps.where?.[error.dependency] : undefined;
        const limit = options.maxRetries > 0 ? `/${options.maxRetries}` : "";
        if (options.maxRetries > 0 && failures >= options.maxRetries) {
          log.critical(`${dependency} failed ${failures} consecutive times; giving up`, {
            where,
            error: (error as Error).message,
          });
          return 1;
        }
        const delay = retryDelay(failures);
        wakeRequested = false; // a NOTIFY must not cut a backoff short
        log.error(`${dependency} failed (attempt ${failures}${limit}); retrying in ${(delay / 1000).toFixed(1)}s`, {
          where,
          error: (error as Error).message,
        });
        backingOff = true;
        await sleep(delay);
        backingOff = false;
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
