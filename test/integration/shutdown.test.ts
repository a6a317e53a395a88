/**
 * SIGTERM / SIGINT (docs/design.md §19): the claim transaction in flight is finished, or
 * abandoned before anything is recorded; final statistics; exit 0 within
 * SCHEDULER_SHUTDOWN_TIMEOUT. A second signal at least 0.5 s later exits at once.
 */
import { expect, test } from "bun:test";
import { duplicates, type Rig } from "../support/faults.ts";
import { testScope } from "../support/scope.ts";
import { bulkInsert, insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

const claimOpen = async (rig: Rig) => (await rig.openClaims()) > 0;

/** A scheduler with `env` whose claim of `count` due rows waits for confirms from a stalled broker. */
async function holdingAClaim(rig: Rig, env: Record<string, string>, count: number) {
  const scheduler = rig.start(env);
  await scheduler.waitForLine(/RabbitMQ connection established/);
  rig.mqProxy.stall();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: count }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("the claim transaction to wait for confirms", () => claimOpen(rig), 5_000, 20);
  return scheduler;
}

test("SIGTERM in the middle of 5,000 due rows: exit 0 in time, and every row is either recorded with its message confirmed or untouched", async () => {
  const rig = await scope.rig();
  await bulkInsert(rig.db, 5_000, 3600, "now() AT TIME ZONE 'UTC' - interval '1 second'");
  const scheduler = rig.start({ SCHEDULER_BATCH_SIZE: "500", SCHEDULER_SHUTDOWN_TIMEOUT: "10" });
  await scheduler.waitForLine(/RabbitMQ connection established/);
  // Latency on the broker link spreads the ten batches over a few seconds.
  rig.mqProxy.delay(25);
  await waitFor("the first confirmed batch", () => rig.queue.messages.length > 0, 15_000, 5);
  const signalledAt = Date.now();
  scheduler.proc.kill("SIGTERM");
  const code = await scheduler.exited;
  const shutdownMs = Date.now() - signalledAt;
  console.log(`[measure] SIGTERM mid-batch → exit: ${(shutdownMs / 1000).toFixed(1)} s`);
  expect(code).toBe(0);
  expect(shutdownMs).toBeLessThan(10_000);
  expect(scheduler.output()).toContain("SIGTERM received");
  expect(scheduler.output()).toMatch(/Final statistics: checks=\d+ executions=\d+ failures=0/);

  const rows = await rig.rows();
  const advanced = rows.filter((r) => r.run_count > 0);
  // Every confirmed message reaches the consumer; wait until they all have.
  await waitFor("every confirmed message", () => rig.queue.messages.length >= advanced.length, 10_000);
  console.log(`[measure] rows recorded before the stop: ${advanced.length} of 5000`);
  expect(advanced.length).toBeGreaterThan(0);
  expect(advanced.length).toBeLessThan(5_000);
  // The batch in flight at the signal was finished whole: only whole batches are recorded.
  expect(advanced.length % 500).toBe(0);
  for (const row of rows) {
    if (row.run_count > 0) expect(row).toMatchObject({ run_count: 1, failure_count: 0, last_error: null, due: false });
    else expect(row).toMatchObject({ run_count: 0, failure_count: 0, last_error: null, due: true });
  }
  // Never half-recorded: the recorded rows are exactly the ones whose message was published.
  const published = new Set(rig.queue.messages.map((m) => m.body.schedule_id as number));
  expect(published).toEqual(new Set(advanced.map((r) => r.id)));
  expect(duplicates(rig.messageIds())).toEqual([]);
}, 60_000);

test("SIGINT while the broker is silent: the batch is given up at SCHEDULER_SHUTDOWN_TIMEOUT, exit 0, rows untouched", async () => {
  const rig = await scope.rig();
  const scheduler = await holdingAClaim(rig, { SCHEDULER_SHUTDOWN_TIMEOUT: "3" }, 5);
  const signalledAt = Date.now();
  scheduler.proc.kill("SIGINT");
  // A repeat within 0.5 s is the same stop delivered twice (process and group), not a second one.
  await Bun.sleep(100);
  scheduler.proc.kill("SIGINT");
  const code = await scheduler.exited;
  const elapsed = Date.now() - signalledAt;
  expect(code).toBe(0);
  expect(elapsed).toBeGreaterThanOrEqual(2_900);
  expect(elapsed).toBeLessThan(4_500);
  expect(scheduler.output()).toContain("Shutdown timeout reached");
  expect(scheduler.output()).not.toContain("Second SIGINT");
  // The process is gone, so PostgreSQL rolls the claim back: nothing recorded, all still due.
  await waitFor("the claim to be rolled back", async () => !(await claimOpen(rig)), 5_000);
  for (const row of await rig.rows())
    expect(row).toMatchObject({ run_count: 0, failure_count: 0, last_error: null, due: true });
}, 30_000);

test("a second SIGTERM at least 0.5 s after the first exits at once", async () => {
  const rig = await scope.rig();
  const scheduler = await holdingAClaim(rig, { SCHEDULER_SHUTDOWN_TIMEOUT: "30" }, 1);
  scheduler.proc.kill("SIGTERM");
  await scheduler.waitForLine(/SIGTERM received/);
  await Bun.sleep(600);
  const secondAt = Date.now();
  scheduler.proc.kill("SIGTERM");
  const code = await scheduler.exited;
  expect(Date.now() - secondAt).toBeLessThan(1_000);
  expect(code).toBe(1);
  expect(scheduler.output()).toContain("Second SIGTERM: exiting now");
  await waitFor("the claim to be rolled back", async () => !(await claimOpen(rig)), 5_000);
  for (const row of await rig.rows()) expect(row).toMatchObject({ run_count: 0, failure_count: 0, due: true });
}, 30_000);
