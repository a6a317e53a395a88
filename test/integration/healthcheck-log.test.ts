/** The HEALTHCHECK lines operators of the original service grep for (SPEC §7), and final statistics. */
import { afterEach, expect, test } from "bun:test";
import { startBinary, type Running } from "../support/binary.ts";
import { createTestDatabase, createTestQueue, insertSchedules, waitFor, type TestDatabase, type TestQueue } from "../support/services.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function setup(): Promise<{ db: TestDatabase; queue: TestQueue }> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const queue = await createTestQueue();
  cleanups.push(() => queue.drop());
  return { db, queue };
}

function start(env: Record<string, string>): Running {
  const scheduler = startBinary(["run"], { SCHEDULER_HEALTHCHECK_INTERVAL: "0.5", ...env });
  cleanups.push(() => scheduler.stop("SIGKILL"));
  return scheduler;
}

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

test("HEALTHCHECK OK | checks=… executions=… failures=… last_check=… last_execution=… every interval, and final statistics on stop", async () => {
  const { db, queue } = await setup();
  await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600 }]);
  const scheduler = start({ ...db.env, ...queue.env });
  const line = await scheduler.waitForLine(/HEALTHCHECK OK .*executions=1 /, 10_000);
  expect(line).toMatch(new RegExp(`^${ISO} INFO HEALTHCHECK OK \\| checks=\\d+ executions=1 failures=0 last_check=${ISO} last_execution=${ISO}$`));
  await waitFor("a second line", () => scheduler.output().split("HEALTHCHECK OK").length > 2, 5_000);
  expect(await scheduler.stop("SIGTERM")).toBe(0);
  expect(scheduler.output()).toMatch(new RegExp(`${ISO} INFO Final statistics: checks=\\d+ executions=1 failures=0 last_check=${ISO} last_execution=${ISO}`));
});

test("HEALTHCHECK FAILED | DB: … | MQ: … while a dependency is down", async () => {
  const { db } = await setup();
  const scheduler = start({ ...db.env, RABBITMQ_HOST: "127.0.0.1", RABBITMQ_PORT: "1", SCHEDULER_MAX_RETRIES: "0" });
  const line = await scheduler.waitForLine(/HEALTHCHECK FAILED/, 10_000);
  expect(line).toMatch(new RegExp(`^${ISO} ERROR HEALTHCHECK FAILED \\| DB: up \\| MQ: down$`));
  expect(scheduler.output()).not.toContain("HEALTHCHECK OK");
});
