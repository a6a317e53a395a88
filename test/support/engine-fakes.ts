/**
 * In-memory fakes of the engine's dependencies (store, publisher, log) for the unit tests of
 * src/engine/engine.ts: no services. Every fake counts its calls and keeps a trace, so tests wait on
 * conditions ("three claims", "attempt 2 logged") instead of sleeping, on fake time
 * (test/support/fake-time.ts).
 */
import { afterEach, beforeEach, jest } from "bun:test";
import { type Clock, createClock } from "../../src/engine/clock.ts";
import { type Engine, type EngineDeps, type EngineOptions, startEngine } from "../../src/engine/engine.ts";
import type { ClaimRequest, EngineStore, InvalidRow, Publisher } from "../../src/engine/ports.ts";
import { DEFAULT_TIMING, type EngineTiming } from "../../src/engine/timing.ts";
import { createLogger, type LogSink } from "../../src/observe/log.ts";
import { createMetrics, type Metrics } from "../../src/observe/metrics.ts";
import { createReporter } from "../../src/observe/reporter.ts";
import { storeFailure } from "../../src/postgres/failures.ts";
import { MESSAGE_OVERHEAD_BYTES } from "../../src/postgres/store.ts";
import { publisherFailure } from "../../src/rabbitmq/broker.ts";
import type { ClaimedRow, OutgoingMessage } from "../../src/schedule/message.ts";
import type { PublishOutcome, RowUpdate } from "../../src/schedule/plan.ts";
import { delay, ioTurn, until } from "./fake-time.ts";

export interface FakeRow {
  id: number;
  slotMs: number;
  intervalSeconds: number;
  runCount: number;
  failureCount: number;
  active: boolean;
  lastError: string | null;
  workflowData?: string;
}

export const row = (id: number, slotMs: number, intervalSeconds = 3600): FakeRow => ({
  id,
  slotMs,
  intervalSeconds,
  runCount: 0,
  failureCount: 0,
  active: true,
  lastError: null,
});

/** One store call, in call order: `handed` is how many rows had been handed to `fire` by then. */
export interface TraceEntry {
  readonly op: "ping" | "poll" | "claim";
  readonly at: number;
  readonly handed: number;
}

/**
 * A table with the claim semantics of store.ts, judged by a database clock `dbNow`: SKIP LOCKED,
 * `skipIds`, and the byte budget (the first row always taken; `locked` counts every row locked).
 * A failure a test injects leaves as the real adapter's would: a StoreFailure.
 */
export function fakeStore(rows: FakeRow[], dbNow: () => number) {
  const calls = { claims: 0, polls: 0, pings: 0 };
  const requests: ClaimRequest[] = [];
  const pollSkipIds: (readonly number[])[] = [];
  /** Ids of the rows handed to `fire`, once per hand-over. */
  const handed: number[] = [];
  const trace: TraceEntry[] = [];
  let failNext: Error | null = null;
  let failClaims: Error | null = null;
  let failCommit: Error | null = null;
  const invalid: InvalidRow[] = [];
  const locked = new Set<number>();
  /**
   * Every call takes a (real) turn of the event loop, as real I/O does: a hot loop in the engine
   * then shows as `settle` failing, not as a suite starved of timers that never ends.
   */
  const note = async (op: TraceEntry["op"]) => {
    trace.push({ op, at: performance.now(), handed: handed.length });
    await ioTurn();
  };
  const store: EngineStore = {
    async ping() {
      calls.pings += 1;
      await note("ping");
      if (failNext) throw storeFailure(failNext);
      return "fake-db:5432";
    },
    async poll(lookAheadMs, skipIds) {
      calls.polls += 1;
      await note("poll");
      pollSkipIds.push([...skipIds]);
      if (failNext) throw storeFailure(failNext);
      const now = dbNow();
      const valid = rows
        .filter(
          (r) => r.active && Number.isFinite(r.slotMs) && !skipIds.includes(r.id) && r.slotMs <= now + lookAheadMs,
        )
        .sort((a, b) => a.slotMs - b.slotMs);
      return {
        dbNowMs: now,
        nextSlotMs: valid[0]?.slotMs ?? null,
        dueCount: valid.filter((r) => r.slotMs <= now).length,
      };
    },
    async claimBatch(request, fire) {
      calls.claims += 1;
      await note("claim");
      requests.push(request);
      if (failNext) throw storeFailure(failNext);
      if (failClaims) throw storeFailure(failClaims);
      const { limit, budgetBytes = Number.MAX_SAFE_INTEGER, skipIds = [] } = request;
      const now = dbNow();
      // FOR NO KEY UPDATE SKIP LOCKED: rows held by another open claim are passed over.
      // `!(slot > now)` lets a NaN slot through, as `'-infinity' <= now()` does in SQL.
      const due = rows
        .filter((r) => r.active && !(r.slotMs > now) && !locked.has(r.id) && !skipIds.includes(r.id))
        .sort((a, b) => a.slotMs - b.slotMs)
        .slice(0, limit);
      if (due.length === 0) return { claimed: 0, locked: 0, rejected: [] };
      let bytes = 0;
      const taken = due.filter((r, i) => {
        bytes += (r.workflowData ?? "{}").length + MESSAGE_OVERHEAD_BYTES;
        return i === 0 || bytes <= budgetBytes;
      });
      for (const r of taken) locked.add(r.id);
      handed.push(...taken.map((r) => r.id));
      const claimed: ClaimedRow[] = taken.map((r) => ({
        ...r,
        workflowId: 1,
        workflowName: "wf",
        workflowData: r.workflowData ?? "{}",
      }));
      let updates: RowUpdate[];
      try {
        updates = await fire(claimed, now);
        if (failCommit) throw storeFailure(failCommit);
      } finally {
        for (const r of taken) locked.delete(r.id);
      }
      for (const update of updates) {
        const target = rows.find((r) => r.id === update.id)!;
        target.slotMs = update.nextMs;
        target.lastError = update.error;
        if (update.outcome !== "skipped") target.runCount += 1;
        target.failureCount =
          update.outcome === "ok" ? 0 : update.outcome === "failed" ? target.failureCount + 1 : target.failureCount;
        if (update.pause) target.active = false;
      }
      return { claimed: taken.length, locked: due.length, rejected: [] };
    },
    async findInvalid() {
      return invalid;
    },
    async countPaused() {
      return rows.filter((r) => !r.active && r.lastError?.startsWith("paused by rune-scheduler")).length;
    },
  };
  return {
    store,
    calls,
    requests,
    pollSkipIds,
    handed,
    trace,
    invalid,
    /** Every store call fails with `error` (null: they work again). */
    fail: (error: Error | null) => (failNext = error),
    /** Only the claims fail (a table lock, say); pings and polls work. */
    failClaims: (error: Error | null) => (failClaims = error),
    /** The next claims publish, then fail to commit (the updates are not applied). */
    failCommit: (error: Error | null) => (failCommit = error),
  };
}

export type Answer = (message: OutgoingMessage, index: number) => PublishOutcome;

/** A confirm channel that answers each message with `answer` (its index in the batch is given), after `delayMs`. */
export function fakePublisher(answer: Answer = () => ({ status: "confirmed" }), delayMs = 0) {
  const published: OutgoingMessage[] = [];
  const counts = { batches: 0 };
  const publisher: Publisher & { connected: boolean } = {
    connected: true,
    async publishBatch(messages) {
      counts.batches += 1;
      if (delayMs > 0) await delay(delayMs);
      published.push(...messages);
      return messages.map((message, index) => answer(message, index));
    },
    async close() {
      publisher.connected = false;
    },
  };
  return { publisher, published, counts };
}

/** Stops every engine in `running`, moving fake time until each has ended (a batch may be waiting on a timer). */
export async function stopAll(running: Engine[]): Promise<void> {
  const stopped = watch(Promise.all(running.splice(0).map((engine) => engine.stop())));
  await until("every engine stopped", () => stopped.settled);
}

/**
 * For a test file: fake timers in every test, and every engine it launched into the returned
 * list stopped after each test, before real timers come back.
 */
export function engineTestScope(): Engine[] {
  const running: Engine[] = [];
  beforeEach(() => jest.useFakeTimers());
  afterEach(async () => {
    await stopAll(running);
    jest.useRealTimers();
  });
  return running;
}

/** Under fake timers: runs the engine until it ends by itself (it gave up); its exit code. */
export async function exit(h: Harness, withinMs = 60_000): Promise<0 | 1> {
  await until("the engine to end", () => h.done.settled, withinMs);
  return h.done.value!;
}

export function memoryLog() {
  const lines: string[] = [];
  const sink: LogSink = { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) };
  return { log: createLogger({ level: "DEBUG", format: "text", sink }), lines };
}

/** The lines matching `pattern`. */
export const matching = (lines: readonly string[], pattern: RegExp) => lines.filter((line) => pattern.test(line));

/** When a text-format line was written (its leading ISO time), epoch ms. */
export const lineTime = (line: string) => Date.parse(line.slice(0, line.indexOf(" ")));

export const OPTIONS: EngineOptions = {
  pollIntervalMs: 200,
  lookAheadMs: 1_000,
  batchSize: 10,
  pauseAfterFailures: 0,
  maxRetries: 0,
  misfireGraceMs: 0,
  maxMessageBytes: 1 << 20,
};

/** A connection error as postgres.js or amqplib reports one (a lost link, not a refusal). */
export const connectionRefused = (port = 5432) =>
  Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: "ECONNREFUSED" });

/** Tracks whether a promise has settled, to assert that `done` is still pending. */
export function watch<T>(promise: Promise<T>) {
  const state = { settled: false, value: undefined as T | undefined };
  void promise.then((value) => Object.assign(state, { settled: true, value }));
  return state;
}

export interface Harness {
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly lines: string[];
  readonly done: { settled: boolean; value: 0 | 1 | undefined };
}

/**
 * Starts an engine on `store` with a fresh clock, metrics and in-memory log unless given, and
 * `publisher` as the only broker link (reconnecting hands it back, connected again).
 */
export function launch(
  parts: Omit<Partial<EngineDeps>, "options"> & {
    metrics?: Metrics;
    store: EngineStore;
    publisher?: Publisher & { connected: boolean };
    options?: Partial<EngineOptions>;
    /** The outage's pace, in place of the back-off: attempts and reports both this far apart. */
    retryDelay?: (attempt: number) => number;
    /** Any other pace of the engine's (src/engine/timing.ts). */
    timing?: Partial<EngineTiming>;
  },
  running: Engine[],
): Harness {
  const { log, lines } = memoryLog();
  const clock = parts.clock ?? createClock();
  const metrics = parts.metrics ?? createMetrics();
  const publisher = parts.publisher ?? fakePublisher().publisher;
  const connect = parts.connectPublisher ?? (async () => ((publisher.connected = true), publisher));
  const { retryDelay } = parts;
  const timing: EngineTiming = {
    ...DEFAULT_TIMING,
    ...(retryDelay ? { retryDelay, probeDelay: () => retryDelay(1) } : {}),
    ...parts.timing,
  };
  const engine = startEngine(
    {
      report: createReporter({ log, metrics }),
      ...parts,
      // As the broker adapter does: a refusal for good is said as one.
      connectPublisher: (onChange) =>
        connect(onChange).catch((error: unknown) => {
          throw publisherFailure(error);
        }),
      clock,
      options: { ...OPTIONS, ...parts.options },
    },
    timing,
  );
  running.push(engine);
  return { engine, metrics, clock, lines, done: watch(engine.done) };
}
