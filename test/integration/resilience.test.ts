/**
 * Losing PostgreSQL or RabbitMQ at run time (docs/design.md §13), through fault
 * proxies so the shared services are never touched: the scheduler stops claiming, turns
 * not-ready, reconnects and resumes; nothing is marked failed and no slot is lost.
 * Detection and recovery times are printed (`[measure] …`) for docs/design.md §18.
 */
import { expect, test } from "bun:test";
import { connectionFrame } from "../support/amqp-frames.ts";
import { duplicates, type Rig } from "../support/faults.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

const measure = (what: string, ms: number) => console.log(`[measure] ${what}: ${(ms / 1000).toFixed(1)} s`);

/** Retry forever, so an outage of any length in these tests never ends the process. */
const FOREVER = { SCHEDULER_MAX_RETRIES: "0" };

const startReady = (rig: Rig, extra: Record<string, string> = {}) => rig.startRunning({ ...FOREVER, ...extra });

async function allFired(rig: Rig, count: number, timeoutMs: number) {
  return waitFor(
    `${count} rows advanced`,
    async () => {
      const rows = await rig.rows();
      return rows.length === count && rows.every((r) => r.run_count >= 1) ? rows : null;
    },
    timeoutMs,
    100,
  );
}

/** The outage contract: every row fired exactly once, none failed, and the messages match. */
async function expectFiredOnceNoFailure(rig: Rig, count: number, timeoutMs = 15_000) {
  const rows = await allFired(rig, count, timeoutMs);
  await waitFor(`${count} messages`, () => new Set(rig.messageIds()).size === count, 5_000);
  for (const row of rows) expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null, due: false });
  return rows;
}

async function expectUntouched(rig: Rig) {
  for (const row of await rig.rows())
    expect(row).toMatchObject({ run_count: 0, failure_count: 0, last_error: null, due: true });
}

test("broker connection cut mid-run: not ready at once, rows due during the outage are published once after recovery", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  rig.mqProxy.refuse();
  rig.mqProxy.reset();
  const cutAt = Date.now();
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 5_000);
  measure("broker reset → /readyz 503", Date.now() - cutAt);
  expect(await rig.metric("broker_up")).toBe(0);
  expect(await rig.metric("database_up")).toBe(1);

  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 20 }, () => ({ dueInMs: 200, intervalSeconds: 3600 })),
  );
  // Three reports later (1.5–3 s) the rows are long due, yet nobody touched them.
  await scheduler.waitForLine(/RabbitMQ failed \(attempt 3\)/, 10_000);
  await expectUntouched(rig);
  expect(rig.queue.messages).toHaveLength(0);

  rig.mqProxy.resume();
  const resumedAt = Date.now();
  await expectFiredOnceNoFailure(rig, 20);
  measure("broker back → due rows published", Date.now() - resumedAt);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(await rig.readyz()).toBe(200);
  expect(scheduler.proc.exitCode).toBeNull();
}, 40_000);

test("database connection cut mid-run: not ready, rows due during the outage are published once after recovery", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  rig.pgProxy.refuse();
  rig.pgProxy.reset();
  const cutAt = Date.now();
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 5_000);
  measure("database reset → /readyz 503 (next poll)", Date.now() - cutAt);
  expect(await rig.metric("database_up")).toBe(0);

  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 20 }, () => ({ dueInMs: 200, intervalSeconds: 3600 })),
  );
  await scheduler.waitForLine(/PostgreSQL failed \(attempt 3\)/, 10_000);
  await expectUntouched(rig);
  expect(rig.queue.messages).toHaveLength(0);

  rig.pgProxy.resume();
  const resumedAt = Date.now();
  await expectFiredOnceNoFailure(rig, 20);
  measure("database back → due rows published", Date.now() - resumedAt);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(await rig.readyz()).toBe(200);
  expect(scheduler.output()).not.toMatch(/CRITICAL|Uncaught/);
}, 40_000);

test("database connection cut while the claim transaction waits for confirms: no crash, every row recorded once it is back", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  // Slow confirms hold the claim transaction open long enough to cut it.
  rig.mqProxy.delay(1_000);
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 10 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("the claim transaction to be open", async () => (await rig.openClaims()) > 0, 5_000, 10);
  rig.pgProxy.reset();
  rig.mqProxy.delay(0);
  const rows = await allFired(rig, 10, 20_000);
  for (const row of rows) expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null, due: false });
  // The lost transaction's messages were published, so the slots go out again: same ids (at-least-once).
  await waitFor("10 distinct messages", () => new Set(rig.messageIds()).size === 10, 5_000);
  expect(rig.messageIds().length).toBeLessThanOrEqual(20);
  // Still running, and the lost transaction did not take the process down.
  await waitFor("ready again", async () => (await rig.readyz()) === 200, 5_000);
  expect(scheduler.proc.exitCode).toBeNull();
  expect(scheduler.output()).not.toMatch(/CRITICAL|Uncaught|TypeError/);
}, 40_000);

test("a stalled broker connection: the confirm timeout gives up, rows stay unrecorded, and fire after recovery", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  rig.mqProxy.stall();
  const stalledAt = Date.now();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 15_000, 100);
  const detectedMs = Date.now() - stalledAt;
  measure("broker stall (publish in flight) → /readyz 503", detectedMs);
  // CONFIRM_TIMEOUT_MS is 10 s.
  expect(detectedMs).toBeGreaterThanOrEqual(9_000);
  expect(detectedMs).toBeLessThan(13_000);
  // /readyz turns 503 as the link is cut; the line comes once the claim has rolled back.
  await scheduler.waitForLine(/no confirm from the broker for 10000 ms/, 5_000);
  await expectUntouched(rig);
  expect(await rig.metric("unknown_outcomes_total")).toBe(5);

  rig.mqProxy.resume();
  const resumedAt = Date.now();
  const rows = await allFired(rig, 5, 20_000);
  measure("broker stall lifted → rows published", Date.now() - resumedAt);
  for (const row of rows) expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null });
  // Bytes the stalled link held may still reach the broker: at least once, never another id.
  await waitFor("5 distinct messages", () => new Set(rig.messageIds()).size === 5, 5_000);
  expect(scheduler.output()).not.toMatch(/CRITICAL|Uncaught/);
}, 60_000);

test("a stalled database connection: the statement deadline notices, the scheduler reconnects and fires once", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  rig.pgProxy.stall();
  const stalledAt = Date.now();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: 500, intervalSeconds: 3600 })),
  );
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 30_000, 100);
  const detectedMs = Date.now() - stalledAt;
  measure("database stall → /readyz 503", detectedMs);
  expect(detectedMs).toBeLessThan(25_000);
  expect(await rig.metric("database_up")).toBe(0);
  await expectUntouched(rig);

  rig.pgProxy.resume();
  const resumedAt = Date.now();
  await expectFiredOnceNoFailure(rig, 5, 20_000);
  measure("database stall lifted → rows published", Date.now() - resumedAt);
  expect(duplicates(rig.messageIds())).toEqual([]);
  expect(scheduler.proc.exitCode).toBeNull();
}, 70_000);

test("broker flow control (connection.blocked): stops claiming, not ready, rows untouched; resumes on unblocked", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  await waitFor("one broker connection", () => rig.mqProxy.openConnections === 1, 2_000);
  // The scheduler is idle, so the broker is only sending heartbeats: a frame boundary.
  rig.mqProxy.inject(connectionFrame(60, "low on memory"));
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 5_000);
  await scheduler.waitForLine(/WARNING RabbitMQ node \S+ blocks publishing: memory alarm; not claiming until it lifts/);
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  const checks = (await rig.metric("checks_total"))!;
  // Two more polls: the rows are due all along, and nothing claims them.
  await waitFor("two more polls", async () => ((await rig.metric("checks_total")) ?? 0) >= checks + 2, 10_000, 100);
  await expectUntouched(rig);
  expect(rig.queue.messages).toHaveLength(0);
  expect(await rig.metric("due_backlog")).toBe(5);

  rig.mqProxy.inject(connectionFrame(61));
  await expectFiredOnceNoFailure(rig, 5, 10_000);
  expect(await rig.readyz()).toBe(200);
  expect(duplicates(rig.messageIds())).toEqual([]);
}, 40_000);

test("a broker that goes silent while the scheduler is idle: the AMQP heartbeat notices within 30 s, then it reconnects", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  rig.mqProxy.stall();
  const stalledAt = Date.now();
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 35_000, 100);
  const detectedMs = Date.now() - stalledAt;
  measure("broker stall while idle → /readyz 503 (heartbeat)", detectedMs);
  // HEARTBEAT_SECONDS is 10: two missed checks, 20–30 s.
  expect(detectedMs).toBeGreaterThanOrEqual(19_000);
  expect(detectedMs).toBeLessThan(33_000);
  await scheduler.waitForLine(
    /ERROR RabbitMQ connection lost; reconnecting reason="connection error: Heartbeat timeout"/,
    2_000,
  );
  rig.mqProxy.resume();
  await waitFor("ready again", async () => (await rig.readyz()) === 200, 15_000, 100);
  await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  await expectFiredOnceNoFailure(rig, 1, 10_000);
}, 70_000);

test("SCHEDULER_MAX_RETRIES bounds start-up only: a running scheduler with MAX_RETRIES=2 outlives more failed reconnects, rows untouched", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig, { SCHEDULER_MAX_RETRIES: "2" });
  rig.mqProxy.refuse();
  rig.mqProxy.reset();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 3 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await scheduler.waitForLine(/ERROR RabbitMQ failed \(attempt 4\); retrying/, 20_000);
  expect(scheduler.proc.exitCode).toBeNull();
  expect(scheduler.output()).not.toMatch(/CRITICAL|giving up/);
  await expectUntouched(rig);
  rig.mqProxy.resume();
  await expectFiredOnceNoFailure(rig, 3, 40_000);
}, 70_000);
