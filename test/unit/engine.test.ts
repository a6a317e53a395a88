/**
 * The engine against in-memory fakes of the store and the publisher: no services. Times are
 * real but short (intervals of tens of milliseconds), and every wait is on a condition.
 * Outages, locks and partial batches: engine-outages.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createClock } from "../../src/clock.ts";
import type { OutgoingMessage } from "../../src/message.ts";
import { createMetrics } from "../../src/metrics.ts";
import { createReporter } from "../../src/reporter.ts";
import { type Engine, startEngine } from "../../src/scheduler.ts";
import { type FakeRow, fakePublisher, fakeStore, memoryLog, OPTIONS, row } from "../support/engine-fakes.ts";
import { waitFor } from "../support/services.ts";

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
    engine = startEngine({
      store,
      connectPublisher: async () => publisher,
      clock: createClock(),
      report: createReporter({ log: memoryLog().log, metrics }),
      options: OPTIONS,
    });
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
    const wrapped = {
      ...publisher,
      connected: true,
      publishBatch: async (m: readonly OutgoingMessage[]) => ((firedAt = dbNow()), publisher.publishBatch(m)),
    };
    engine = startEngine({
      store,
      connectPublisher: async () => wrapped,
      clock: createClock(),
      report: createReporter({ log: memoryLog().log, metrics }),
      options: OPTIONS,
    });
    await waitFor("the fire", () => metrics.executions === 1, 5_000);
    expect(firedAt).toBeGreaterThanOrEqual(slot);
    expect(firedAt - slot).toBeLessThan(150);
  });

  test("an unknown outcome leaves the row due, reconnects, and fires it again with the same message id", async () => {
    const rows = [row(1, Date.now() - 10)];
    const { store } = fakeStore(rows, Date.now);
    let attempts = 0;
    const { publisher, published } = fakePublisher(() =>
      ++attempts === 1 ? { status: "unknown", reason: "channel closed" } : { status: "confirmed" },
    );
    const metrics = createMetrics();
    const { log, lines } = memoryLog();
    let _connects = 0;
    engine = startEngine({
      store,
      clock: createClock(),
      report: createReporter({ log, metrics }),
      options: OPTIONS,
      retryDelay: () => 10,
      connectPublisher: async () => ((_connects += 1), (publisher.connected = true), publisher),
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
      store,
      connectPublisher: async () => fakePublisher().publisher,
      clock: createClock(),
      report: createReporter({ log, metrics: createMetrics() }),
      options: { ...OPTIONS, maxRetries: 3 },
      retryDelay: () => 5,
    });
    expect(await engine.done).toBe(1);
    expect(lines.filter((l) => l.includes(" ERROR PostgreSQL failed"))).toHaveLength(2);
    expect(
      lines.some((l) =>
        /CRITICAL PostgreSQL failed 3 consecutive times at start-up \(SCHEDULER_MAX_RETRIES=3\); giving up error="connecting: connect ECONNREFUSED/.test(
          l,
        ),
      ),
    ).toBe(true);
  });

  test("a due row it cannot claim (locked elsewhere) backs off instead of looping hot", async () => {
    const rows = [row(1, Date.now() - 10)];
    const { store, calls } = fakeStore(rows, Date.now);
    store.claimBatch = async () => ((calls.claims += 1), { claimed: 0, locked: 0, rejected: [] }); // another replica holds the lock
    const started = performance.now();
    engine = startEngine({
      store,
      connectPublisher: async () => fakePublisher().publisher,
      clock: createClock(),
      report: createReporter({ log: memoryLog().log, metrics: createMetrics() }),
      options: OPTIONS,
    });
    // 25 ms doubling to 1 s: the fifth claim comes after 25 + 50 + 100 + 200 ms, not at once.
    await waitFor("five claims", () => calls.claims >= 5, 2_000, 5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(340);
    expect(calls.claims).toBe(5);
  });

  test("invalid rows are warned about once per process; the paused gauge comes from the same scan", async () => {
    const paused = {
      ...row(5, Date.now() + 3_600_000),
      active: false,
      lastError: "paused by rune-scheduler after 3 consecutive failed fires; last: x",
    };
    const { store, invalid } = fakeStore([paused], Date.now);
    invalid.push({ id: 9, reason: "interval_seconds <= 0" });
    const { log, lines } = memoryLog();
    const metrics = createMetrics();
    engine = startEngine({
      store,
      connectPublisher: async () => fakePublisher().publisher,
      clock: createClock(),
      report: createReporter({ log, metrics }),
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
    engine = startEngine({
      store,
      connectPublisher: async () => fakePublisher().publisher,
      clock: createClock(),
      report: createReporter({ log: memoryLog().log, metrics }),
      options: { ...OPTIONS, pollIntervalMs: 60_000 },
    });
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
    const slow = {
      ...publisher,
      connected: true,
      publishBatch: async (m: readonly OutgoingMessage[]) => (started(), await gate, publisher.publishBatch(m)),
    };
    engine = startEngine({
      store,
      connectPublisher: async () => slow,
      clock: createClock(),
      report: createReporter({ log: memoryLog().log, metrics: createMetrics() }),
      options: OPTIONS,
    });
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
