/**
 * Outages of a running scheduler, with DEFAULT settings (docs/design.md §13):
 * a 60 s broker outage and a 30 s database outage through the fault proxies never end the
 * process; it is not ready meanwhile, says HEALTHCHECK FAILED, marks nothing failed, and fires
 * what fell due once the dependency is back. SCHEDULER_MAX_OUTAGE is the opt-in way out.
 * The times from a dependency's return to the first fire are printed (`[measure] …`).
 */
import { expect, test } from "bun:test";
import { duplicates, type Rig } from "../support/faults.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

const measure = (what: string, ms: number) => console.log(`[measure] ${what}: ${(ms / 1000).toFixed(2)} s`);

// No SCHEDULER_MAX_RETRIES here: the default (5) must not end a running scheduler.
const startReady = (rig: Rig, extra: Record<string, string> = {}) => rig.startRunning(extra);

async function expectUntouched(rig: Rig) {
  for (const row of await rig.rows())
    expect(row).toMatchObject({ run_count: 0, failure_count: 0, last_error: null, due: true });
}

async function firstFireAfter(rig: Rig, count: number, timeoutMs: number) {
  return waitFor(
    `${count} rows fired`,
    async () => {
      const rows = await rig.rows();
      return rows.length === count && rows.every((r) => r.run_count === 1) ? rows : null;
    },
    timeoutMs,
    20,
  );
}

test("a 60 s broker outage with default settings: still running, not ready, HEALTHCHECK FAILED, then every due row fires once", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  rig.mqProxy.refuse();
  rig.mqProxy.reset();
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 5_000);
  await scheduler.waitForLine(/ERROR HEALTHCHECK FAILED \| DB: up \| MQ: down/, 5_000);
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 20 }, () => ({ dueInMs: 500, intervalSeconds: 3600 })),
  );

  // The outage itself: well past the five attempts (8–15 s) that SCHEDULER_MAX_RETRIES allows at start-up.
  await Bun.sleep(60_000);
  expect(scheduler.proc.exitCode).toBeNull();
  expect(await rig.readyz()).toBe(503);
  await expectUntouched(rig);
  // 1, 2, 4, 8, 16, 30 s (jittered): at least six attempts in 60 s, more than MAX_RETRIES (5).
  expect(scheduler.output()).toMatch(/RabbitMQ failed \(attempt 6\)/);
  expect(scheduler.output()).not.toMatch(/CRITICAL|giving up/);

  rig.mqProxy.resume();
  const backAt = Date.now();
  const rows = await firstFireAfter(rig, 20, 40_000);
  // The back-off is capped at 30 s, so the first fire follows within one capped delay.
  measure("60 s broker outage: broker back → all due rows fired", Date.now() - backAt);
  for (const row of rows) expect(row).toMatchObject({ failure_count: 0, last_error: null, due: false });
  await waitFor("20 messages", () => new Set(rig.messageIds()).size === 20, 5_000);
  expect(duplicates(rig.messageIds())).toEqual([]);
  await waitFor("ready again", async () => (await rig.readyz()) === 200, 5_000);
  // Logged once the cycle that fired them has also polled: after the rows are visible.
  await scheduler.waitForLine(/Recovered after \d+ failed attempt\(s\)/, 5_000);
}, 130_000);

test("a 30 s database outage with default settings: still running, not ready, then every due row fires once", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig);
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 20 }, () => ({ dueInMs: 3_000, intervalSeconds: 3600 })),
  );
  rig.pgProxy.refuse();
  rig.pgProxy.reset();
  await waitFor("not ready", async () => (await rig.readyz()) === 503, 5_000);
  await scheduler.waitForLine(/ERROR HEALTHCHECK FAILED \| DB: down/, 5_000);
  await Bun.sleep(30_000); // the outage itself
  expect(scheduler.proc.exitCode).toBeNull();
  expect(await rig.readyz()).toBe(503);
  await expectUntouched(rig);
  expect(scheduler.output()).not.toMatch(/CRITICAL|giving up/);

  rig.pgProxy.resume();
  const backAt = Date.now();
  const rows = await firstFireAfter(rig, 20, 40_000);
  measure("30 s database outage: database back → all due rows fired", Date.now() - backAt);
  for (const row of rows) expect(row).toMatchObject({ failure_count: 0, last_error: null, due: false });
  await waitFor("20 messages", () => new Set(rig.messageIds()).size === 20, 5_000);
  expect(duplicates(rig.messageIds())).toEqual([]);
}, 100_000);

test("SCHEDULER_MAX_OUTAGE: a running scheduler gives up after that long without a dependency, with a CRITICAL line and exit 1", async () => {
  const rig = await scope.rig();
  const scheduler = await startReady(rig, { SCHEDULER_MAX_OUTAGE: "4" });
  rig.mqProxy.refuse();
  rig.mqProxy.reset();
  const cutAt = Date.now();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 3 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  expect(await scheduler.exited).toBe(1);
  const tookMs = Date.now() - cutAt;
  measure("broker refused, MAX_OUTAGE=4 → exit 1", tookMs);
  // Given up at the first failed attempt past 4 s: the back-off then is at most 4 s.
  expect(tookMs).toBeGreaterThanOrEqual(4_000);
  expect(tookMs).toBeLessThan(12_000);
  const output = scheduler.output();
  expect(output).toMatch(
    new RegExp(
      `CRITICAL RabbitMQ unavailable for [\\d.]+s \\(SCHEDULER_MAX_OUTAGE=4\\); giving up where=amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${rig.mqProxy.port}`,
    ),
  );
  expect(output).toContain("Final statistics:");
  await expectUntouched(rig);
}, 30_000);

test("a NOTIFY storm during a broker outage does not shorten the back-off", async () => {
  const rig = await scope.rig();
  await rig.db.sql.unsafe(`
    CREATE FUNCTION storm_notify() RETURNS trigger AS $$ BEGIN PERFORM pg_notify('rune_storm', ''); RETURN NULL; END $$ LANGUAGE plpgsql;
    CREATE TRIGGER storm_notify AFTER INSERT OR UPDATE ON scheduled_workflows FOR EACH STATEMENT EXECUTE FUNCTION storm_notify();`);
  const scheduler = await startReady(rig, { SCHEDULER_NOTIFY_CHANNEL: "rune_storm" });
  await scheduler.waitForLine(/Listening for notifications/);
  rig.mqProxy.refuse();
  rig.mqProxy.reset();
  const cutAt = Date.now();
  // An API busy writing: a notification every 20 ms for 6 s.
  while (Date.now() - cutAt < 6_000) {
    await rig.db.sql`SELECT pg_notify('rune_storm', '')`;
    await Bun.sleep(20);
  }
  // Back-off 1, 2, 4 s (jittered in the upper half): at most 4 attempts in 6 s, never dozens.
  const attempts = scheduler.output().match(/RabbitMQ failed \(attempt \d+\)/g) ?? [];
  expect(attempts.length).toBeGreaterThanOrEqual(2);
  expect(attempts.length).toBeLessThanOrEqual(5);
  expect(scheduler.proc.exitCode).toBeNull();
}, 30_000);
