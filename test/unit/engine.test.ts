/**
 * The engine against in-memory fakes of the store and the publisher: no services. Times are
 * real but short (intervals of tens of milliseconds), and every wait is on a condition.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Publisher } from "../../src/broker.ts";
import { createClock } from "../../src/clock.ts";
import { createLogger, type LogSink } from "../../src/log.ts";
import type { ClaimedRow, OutgoingMessage } from "../../src/message.ts";
import { createMetrics } from "../../src/metrics.ts";
import type { PublishOutcome, RowUpdate } from "../../src/plan.ts";
import { startEngine, type Engine, type EngineOptions, type EngineStore } from "../../src/scheduler.ts";
import type { InvalidRow } from "../../src/store.ts";
import { waitFor } from "../support/services.ts";

interface FakeRow {
  id: number;
  slotMs: number;
  intervalSeconds: number;
  runCount: number;
  failureCount: number;
  active: boolean;
  lastError: string | null;
}

/** A table with the claim semantics of store.ts, judged by a database clock `dbNow`. */
function fakeStore(rows: FakeRow[], dbNow: () => number) {
  const calls = { claims: 0, polls: 0, pings: 0 };
  let failNext: Error | null = null;
  let failCommit: Error | null = null;
  const invalid: InvalidRow[] = [];
  const locked = new Set<number>();
  const store: EngineStore = {
    async ping() {
      calls.pings += 1;
      if (failNext) throw failNext;
    },
    async poll(lookAheadMs, skipIds) {
      calls.polls += 1;
      if (failNext) throw failNext;
      const now = dbNow();
      const valid = rows
        .filter((r) => r.active && Number.isFinite(r.slotMs) && !skipIds.includes(r.id) && r.slotMs <= now + lookAheadMs)
        .sort((a, b) => a.slotMs - b.slotMs);
      return { dbNowMs: now, nextSlotMs: valid[0]?.slotMs ?? null, dueCount: valid.filter((r) => r.slotMs <= now).length };
    },
    async claimBatch({ limit, skipIds = [] }, fire) {
      calls.claims += 1;
      if (failNext) throw failNext;
      const now = dbNow();
      // FOR NO KEY UPDATE SKIP LOCKED: rows held by another open claim are passed over.
      const due = rows
        .filter((r) => r.active && !(r.slotMs > now) && !locked.has(r.id) && !skipIds.includes(r.id))
        .sort((a, b) => a.slotMs - b.slotMs)
        .slice(0, limit);
      if (due.length === 0) return { claimed: 0, locked: 0, rejected: [] };
      for (const r of due) locked.add(r.id);
      const claimed: ClaimedRow[] = due.map((r) => ({ ...r, workflowId: 1, workflowName: "wf", workflowData: "{}" }));
      let updates: RowUpdate[];
      try {
        updates = await fire(claimed, now);
        if (failCommit) throw failCommit;
      } finally {
        for (const r of due) locked.delete(r.id);
      }
      for (const update of updates) {
        const row = rows.find((r) => r.id === update.id)!;
        row.slotMs = update.nextMs;
        row.lastError = update.error;
        if (update.outcome !== "skipped") row.runCount += 1;
        row.failureCount = update.outcome === "ok" ? 0 : update.outcome === "failed" ? row.failureCount + 1 : row.failureCount;
        if (update.pause) row.active = false;
      }
      return { claimed: due.length, locked: due.length, rejected: [] };
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
    invalid,
    fail: (error: Error | null) => (failNext = error),
    /** The next claims publish, then fail to commit (the updates are not applied). */
    failCommit: (error: Error | null) => (failCommit = error),
  };
}

function fakePublisher(answer: (message: OutgoingMessage) => PublishOutcome = () => ({ status: "confirmed" })) {
  const published: OutgoingMessage[] = [];
  const publisher: Publisher & { connected: boolean } = {
    connected: true,
    async publishBatch(messages) {
      published.push(...messages);
      return messages.map(answer);
    },
    async close() {
      publisher.connected = false;
    },
  };
  return { publisher, published };
}

function memoryLog() {
  const lines: string[] = [];
  const sink: LogSink = { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) };
  return { log: createLogger({ level: "DEBUG", format: "text", sink }), lines };
}

const OPTIONS: EngineOptions = {
  pollIntervalMs: 200, lookAheadMs: 1_000, batchSize: 10, pauseAfterFailures: 0, maxRetries: 0,
  misfireGraceMs: 0, maxMessageBytes: 1 << 20,
};

const row = (id: number, slotMs: number, intervalSeconds = 3600): FakeRow => ({
  id, slotMs, intervalSeconds, runCount: 0, failureCount: 0, active: true, lastError: null,
});

let engine: Engine | null = null;
afterEach(async () => {
  await engine?.stop();
  engine = null;
});

describe("engine", () => {
  test("claims in batches until one comes back short, publishing every due row once", async () => {
    const rows = Array.from({ length: 25 }, (_, i) => row(i + 1, Date.now() - 1000));
    const { store, calls } = fakeStore(rows, Date.now);
    const { publisher, published } = fakePublisher();
    const metrics = createMetrics();
    engine = startEngine({ store, connectPublisher: async () => publisher, clock: createClock(), log: memoryLog().log, metrics, options: OPTIONS });
    await waitFor("25 fires", () => metrics.executions === 25);
    expect(new Set(published.map((m) => m.messageId)).size).toBe(25);
    expect(calls.claims).toBeGreaterThanOrEqual(3); // 10 + 10 + 5
    expect(rows.every((r) => r.runCount === 1 && r.slotMs > Date.now())).toBe(true);
  });

  test("fires a row at its slot by the database clock, even when the host clock is an hour off", async () => {
    const skew = 3_600_000;
    const dbNow = () => Date.now() + skew; // the database is an hour ahead of the host
    const slot = dbNow() + 300;
    const rows = [row(1, slot)];
    const { store } = fakeStore(rows, dbNow);
    const { publisher } = fakePublisher();
    const metrics = createMetrics();
    let firedAt = 0;
    const wrapped = { ...publisher, connected: true, publishBatch: async (m: readonly OutgoingMessage[]) => ((firedAt = dbNow()), publisher.publishBatch(m)) };
    engine = startEngine({ store, connectPublisher: async () => wrapped, clock: createClock(), log: memoryLog().log, metrics, options: OPTIONS });
    await waitFor("the fire", () => metrics.executions === 1, 5_000);
    expect(firedAt).toBeGreaterThanOrEqual(slot);
    expect(firedAt - slot).toBeLessThan(150);
  });

  test("an unknown outcome leaves the row due, reconnects, and fires it again with the same message id", async () => {
    const rows = [row(1, Date.now() - 10)];
    const { store } = fakeStore(rows, Date.now);
    let attempts = 0;
    const { publisher, published } = fakePublisher(() => (++attempts === 1 ? { status: "unknown", reason: "channel closed" } : { status: "confirmed" }));
    const metrics = createMetrics();
    const { log, lines } = memoryLog();
    let connects = 0;
    engine = startEngine({
      store, clock: createClock(), log, metrics, options: OPTIONS, retryDelay: () => 10,
      connectPublisher: async () => ((connects += 1), (publisher.connected = true), publisher),
    });
    await waitFor("the second attempt", () => metrics.executions === 1);
    expect(published.map((m) => m.messageId)).toEqual([published[0]!.messageId, published[0]!.messageId]);
    expect(rows[0]!.runCount).toBe(1);
    expect(rows[0]!.failureCount).toBe(0);
    expect(metrics.unknown).toBe(1);
    expect(lines.some((l) => /ERROR RabbitMQ failed \(attempt 1\); retrying/.test(l))).toBe(true);
  });

  test("at start-up, gives up with a CRITICAL line after SCHEDULER_MAX_RETRIES consecutive failures", async () => {
    const { store, fail } = fakeStore([], Date.now);
    fail(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }));
    const { log, lines } = memoryLog();
    engine = startEngine({
      store, connectPublisher: async () => fakePublisher().publisher, clock: createClock(), log, metrics: createMetrics(),
      options: { ...OPTIONS, maxRetries: 3 }, retryDelay: () => 5,
    });
    expect(await engine.done).toBe(1);
    expect(lines.filter((l) => l.includes(" ERROR PostgreSQL failed"))).toHaveLength(2);
    expect(
      lines.some((l) =>
        /CRITICAL PostgreSQL failed 3 consecutive times at start-up \(SCHEDULER_MAX_RETRIES=3\); giving up error="connecting: connect ECONNREFUSED/.test(l),
      ),
    ).toBe(true);
  });

  test("a due row it cannot claim (locked elsewhere) backs off instead of looping hot", async () => {
    const rows = [row(1, Date.now() - 10)];
    const { store, calls } = fakeStore(rows, Date.now);
    store.claimBatch = async () => ((calls.claims += 1), { claimed: 0, locked: 0, rejected: [] }); // another replica holds the lock
    engine = startEngine({ store, connectPublisher: async () => fakePublisher().publisher, clock: createClock(), log: memoryLog().log, metrics: createMetrics(), options: OPTIONS });
    await Bun.sleep(1_500);
    // 25 ms doubling to 1 s: about 7 attempts in 1.5 s, never hundreds.
    expect(calls.claims).toBeGreaterThan(3);
    expect(calls.claims).toBeLessThan(15);
  });

  test("invalid rows are warned about once per process; the paused gauge comes from the same scan", async () => {
    const paused = { ...row(5, Date.now() + 3_600_000), active: false, lastError: "paused by rune-scheduler after 3 consecutive failed fires; last: x" };
    const { store, invalid } = fakeStore([paused], Date.now);
    invalid.push({ id: 9, reason: "interval_seconds <= 0" });
    const { log, lines } = memoryLog();
    const metrics = createMetrics();
    engine = startEngine({
      store, connectPublisher: async () => fakePublisher().publisher, clock: createClock(), log, metrics,
      options: { ...OPTIONS, pollIntervalMs: 20, invalidScanIntervalMs: 1 },
    });
    await waitFor("several polls", () => metrics.checks >= 10);
    expect(lines.filter((l) => l.includes("Schedule 9 is active but invalid (interval_seconds <= 0)"))).toHaveLength(1);
    expect(metrics.invalidRows).toBe(1);
    expect(metrics.pausedNow).toBe(1);
  });

  test("a wake (NOTIFY) claims at once instead of waiting for the next poll", async () => {
    const rows: FakeRow[] = [];
    const { store } = fakeStore(rows, Date.now);
    const metrics = createMetrics();
    engine = startEngine({ store, connectPublisher: async () => fakePublisher().publisher, clock: createClock(), log: memoryLog().log, metrics, options: { ...OPTIONS, pollIntervalMs: 60_000 } });
    await waitFor("first poll", () => metrics.checks === 1);
    rows.push(row(1, Date.now() - 1));
    engine.wake();
    await waitFor("the fire", () => metrics.executions === 1, 1_000);
  });

  test("stop() waits for the batch in flight, which is recorded whole", async () => {
    const rows = Array.from({ length: 5 }, (_, i) => row(i + 1, Date.now() - 10));
    const { store } = fakeStore(rows, Date.now);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const { publisher } = fakePublisher();
    const slow = { ...publisher, connected: true, publishBatch: async (m: readonly OutgoingMessage[]) => (started(), await gate, publisher.publishBatch(m)) };
    engine = startEngine({ store, connectPublisher: async () => slow, clock: createClock(), log: memoryLog().log, metrics: createMetrics(), options: OPTIONS });
    await inFlight;
    const stopped = engine.stop();
    let settled = false;
    void stopped.then(() => (settled = true));
    await Bun.sleep(50);
    expect(settled).toBe(false);
    release();
    expect(await stopped).toBe(0);
    expect(rows.every((r) => r.runCount === 1)).toBe(true);
  });
});
