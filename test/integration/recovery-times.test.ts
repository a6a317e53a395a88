/**
 * How soon fires resume once a dependency is back (docs/design.md §13, §18), through fault
 * proxies so the shared services are never touched: the first fire after the end of each fault,
 * asserted with a generous bound (scripts/bench/recovery.ts measures it precisely), the
 * connection attempts while it was down, and a broker that blocks publishing mid-batch: the
 * claim given back at once, the block named, /readyz saying so, and a fire within a second of
 * the unblock.
 */
import { expect, test } from "bun:test";
import { connectionFrame } from "../support/amqp-frames.ts";
import type { Rig } from "../support/faults.ts";
import { createRabbitUser } from "../support/rabbit-user.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();
const FOREVER = { SCHEDULER_MAX_RETRIES: "0" };
/** Generous: the engine tries every 1–1.2 s; CI machines are slow and shared. */
const FIRST_FIRE_BOUND_MS = 3_000;
/** Long enough that the old back-off would have reached 8–16 s between attempts. */
const OUTAGE_MS = 20_000;

const measure = (what: string, ms: number) => console.log(`[measure] ${what}: ${(ms / 1000).toFixed(2)} s`);

/** Waits for the first message to arrive after `since`; the time from `since`. */
async function firstFireAfter(rig: Rig, since: number, before: number): Promise<number> {
  await waitFor("the first fire", () => rig.queue.messages.length > before, FIRST_FIRE_BOUND_MS + 5_000, 10);
  return rig.queue.messages[before]!.receivedAt - since;
}

for (const dependency of ["RabbitMQ", "PostgreSQL"] as const) {
  test(`${dependency} refusing connections for ${OUTAGE_MS / 1000} s: the first fire within ${FIRST_FIRE_BOUND_MS / 1000} s of its return, at most about one connection attempt a second`, async () => {
    const rig = await scope.rig();
    const scheduler = await rig.startRunning(FOREVER);
    const proxy = dependency === "RabbitMQ" ? rig.mqProxy : rig.pgProxy;
    proxy.refuse();
    proxy.reset();
    const acceptedBefore = proxy.acceptedConnections;
    // Due all through the outage: every second.
    await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 1 }]);
    await waitFor("not ready", async () => (await rig.readyz()) === 503, 5_000, 50);
    await Bun.sleep(OUTAGE_MS); // the test is about an outage of this length
    const attempts = proxy.acceptedConnections - acceptedBefore;
    const before = rig.queue.messages.length;
    proxy.resume();
    const firstFireMs = await firstFireAfter(rig, Date.now(), before);
    measure(`${dependency} refused ${OUTAGE_MS / 1000} s → first fire`, firstFireMs);
    console.log(
      `[measure] ${dependency} connection attempts a second while refused: ${((attempts * 1000) / OUTAGE_MS).toFixed(2)}`,
    );
    expect(firstFireMs).toBeLessThan(FIRST_FIRE_BOUND_MS);
    // One attempt every 1–1.2 s (PostgreSQL: the pool of the engine may open one per lane).
    expect(attempts / (OUTAGE_MS / 1000)).toBeLessThanOrEqual(dependency === "RabbitMQ" ? 1.1 : 3.3);
    // Reports at the back-off's pace: far fewer lines than attempts.
    const reports = scheduler.output().match(new RegExp(`ERROR ${dependency} failed \\(attempt`, "g")) ?? [];
    expect(reports.length).toBeLessThanOrEqual(7);
    await scheduler.waitForLine(/INFO Recovered after \d+ failed attempt\(s\)/, 5_000);
    await waitFor("ready", async () => (await rig.readyz()) === 200, 5_000, 50);
  }, 60_000);
}

test("a broker that blocks publishing mid-batch: the claim is given back at once, the block named, not ready, and a fire within 1 s of the unblock", async () => {
  const rig = await scope.rig();
  const scheduler = await rig.startRunning({
    ...FOREVER,
    // A long block would outlast RabbitMQ's patience with our 10 s heartbeat through a stalled proxy.
    RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${rig.mqProxy.port}/?heartbeat=60`,
  });
  await waitFor("one broker connection", () => rig.mqProxy.openConnections === 1, 2_000);
  // A broker under a memory alarm holds the publishes it reads and confirms nothing: stalled
  // while idle (a frame boundary), the link behaves the same way.
  rig.mqProxy.stall();
  await insertSchedules(
    rig.db.sql,
    Array.from({ length: 5 }, () => ({ dueInMs: -100, intervalSeconds: 3600 })),
  );
  await waitFor("the batch to be in flight", async () => (await rig.openClaims()) > 0, 5_000, 10);
  rig.mqProxy.inject(connectionFrame(60, "low on memory"));
  const blockedAt = Date.now();
  await waitFor("the claim given back", async () => (await rig.openClaims()) === 0, 2_000, 10);
  measure("connection.blocked → claim transaction ended", Date.now() - blockedAt);
  await scheduler.waitForLine(/WARNING RabbitMQ node \S+ blocks publishing: memory alarm; not claiming until it lifts/);
  expect(await rig.readyz()).toBe(503);
  expect(await rig.readyzReason()).toMatch(/^RabbitMQ node \S+ blocks publishing: memory alarm$/);
  // Blocked is not a failure, and no claim transaction is opened while it lasts.
  for (let i = 0; i < 20; i++) {
    expect(await rig.openClaims()).toBe(0);
    await Bun.sleep(100); // sampling pg_stat_activity over two seconds of the block
  }
  for (const row of await rig.rows()) expect(row).toMatchObject({ run_count: 0, due: true });
  expect(scheduler.output()).not.toMatch(/ ERROR | CRITICAL /);

  const before = rig.queue.messages.length;
  rig.mqProxy.inject(connectionFrame(61));
  const unblockedAt = Date.now();
  rig.mqProxy.resume();
  const firstFireMs = await firstFireAfter(rig, unblockedAt, before);
  measure("connection.unblocked → first fire", firstFireMs);
  expect(firstFireMs).toBeLessThan(1_000);
  await waitFor("every row recorded", async () => (await rig.rows()).every((r) => r.run_count === 1), 5_000);
  // The given-back batch may reach the queue too, held by the broker: the same message ids.
  await waitFor("five distinct fires", () => new Set(rig.messageIds()).size === 5, 5_000);
  const copies = new Map<string, number>();
  for (const id of rig.messageIds()) copies.set(id, (copies.get(id) ?? 0) + 1);
  expect(Math.max(...copies.values())).toBeLessThanOrEqual(2);
  expect(await rig.readyz()).toBe(200);
}, 40_000);

test("a publish refused with 403 (no write permission on the queue) ends the start at once, named", async () => {
  const rig = await scope.rig();
  // May declare and read, may not write: the queue exists, the first publish is refused.
  const user = await createRabbitUser({ configure: ".*", write: "^$", read: ".*" });
  scope.defer(() => user.drop());
  await insertSchedules(rig.db.sql, [{ dueInMs: -100, intervalSeconds: 3600 }]);
  const started = Date.now();
  const scheduler = rig.start({ ...user.env, SCHEDULER_MAX_RETRIES: "5" });
  expect(await scheduler.exited).toBe(1);
  expect(Date.now() - started).toBeLessThan(5_000);
  const critical = await scheduler.waitForLine(/CRITICAL RabbitMQ refused for good at start-up/, 1_000);
  expect(critical).toContain("refused to let user");
  expect(critical).toContain(`${user.name}\\" publish (no write permission on exchange`);
  expect(scheduler.output()).not.toMatch(/ERROR RabbitMQ failed \(attempt/);
  for (const row of await rig.rows()) expect(row).toMatchObject({ run_count: 0, due: true });
}, 30_000);
