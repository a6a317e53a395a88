/**
 * The engine against in-memory fakes of the store and the publisher: no services. Time is Bun's
 * fake clock, moved by `until` only while the engine waits, so every interval is exact and no
 * test waits in real time. Outages, locks and partial batches: engine-outages.test.ts.
 */
import { describe, expect, test } from "bun:test";
import type { OutgoingMessage } from "../../src/schedule/message.ts";
import {
  connectionRefused,
  engineTestScope,
  exit,
  type FakeRow,
  fakePublisher,
  fakeStore,
  launch,
  row,
  watch,
} from "../support/engine-fakes.ts";
import { elapse, until } from "../support/fake-time.ts";

const running = engineTestScope();

describe("engine", () => {
  test("claims in batches until one comes back short, publishing every due row once", async () => {
    const rows = Array.from({ length: 25 }, (_, i) => row(i + 1, Date.now() - 1000));
    const { store, calls } = fakeStore(rows, Date.now);
    const { publisher, published } = fakePublisher();
    const h = launch({ store, publisher }, running);
    await until("25 fires", () => h.metrics.executions === 25);
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
    let firedAt = 0;
    const wrapped = {
      ...publisher,
      connected: true,
      publishBatch: async (m: readonly OutgoingMessage[]) => ((firedAt = dbNow()), publisher.publishBatch(m)),
    };
    const h = launch({ store, publisher: wrapped }, running);
    await until("the fire", () => h.metrics.executions === 1, 5_000);
    expect(firedAt).toBeGreaterThanOrEqual(slot);
    // The timer is aimed 1 ms past the slot, so the claim's now() has reached it.
    expect(firedAt - slot).toBe(1);
  });

  test("an unknown outcome leaves the row due, reconnects, and fires it again with the same message id", async () => {
    const rows = [row(1, Date.now() - 10)];
    const { store } = fakeStore(rows, Date.now);
    let attempts = 0;
    const { publisher, published } = fakePublisher(() =>
      ++attempts === 1 ? { status: "unknown", reason: "channel closed" } : { status: "confirmed" },
    );
    const h = launch({ store, publisher, retryDelay: () => 10 }, running);
    await until("the second attempt", () => h.metrics.executions === 1);
    expect(published.map((m) => m.messageId)).toEqual([published[0]!.messageId, published[0]!.messageId]);
    expect(rows[0]!.runCount).toBe(1);
    expect(rows[0]!.failureCount).toBe(0);
    expect(h.metrics.unknown).toBe(1);
    expect(h.lines.some((l) => /ERROR RabbitMQ failed \(attempt 1\); retrying/.test(l))).toBe(true);
  });

  test("at start-up, gives up with a CRITICAL line after SCHEDULER_MAX_RETRIES consecutive failures", async () => {
    const { store, fail } = fakeStore([], Date.now);
    fail(connectionRefused(1));
    const h = launch({ store, options: { maxRetries: 3 }, retryDelay: () => 5 }, running);
    expect(await exit(h)).toBe(1);
    expect(h.lines.filter((l) => l.includes(" ERROR PostgreSQL failed"))).toHaveLength(2);
    expect(
      h.lines.some((l) =>
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
    const started = Date.now();
    launch({ store }, running);
    await until("five claims", () => calls.claims >= 5, 2_000);
    // 25 ms doubling to 1 s: the fifth claim comes after 25 + 50 + 100 + 200 ms, not at once.
    expect(Date.now() - started).toBe(375);
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
    const h = launch({ store, options: { pollIntervalMs: 20 }, timing: { invalidScanIntervalMs: () => 1 } }, running);
    await until("several polls", () => h.metrics.checks >= 10);
    expect(h.lines.filter((l) => l.includes("Schedule 9 is active but invalid (interval_seconds <= 0)"))).toHaveLength(
      1,
    );
    expect(h.metrics.invalidRows).toBe(1);
    expect(h.metrics.pausedNow).toBe(1);
  });

  test("a wake (NOTIFY) claims at once instead of waiting for the next poll", async () => {
    const rows: FakeRow[] = [];
    const { store } = fakeStore(rows, Date.now);
    const h = launch({ store, options: { pollIntervalMs: 60_000 } }, running);
    await until("first poll", () => h.metrics.checks === 1);
    rows.push(row(1, Date.now() - 1));
    h.engine.wake();
    // At once: before any (fake) time passes.
    await until("the fire", () => h.metrics.executions === 1, 0);
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
    const h = launch({ store, publisher: slow }, running);
    await inFlight;
    const stopped = watch(h.engine.stop());
    await elapse(60_000);
    expect(stopped.settled).toBe(false);
    release();
    await until("the stop", () => stopped.settled);
    expect(stopped.value).toBe(0);
    expect(rows.every((r) => r.runCount === 1)).toBe(true);
  });
});
