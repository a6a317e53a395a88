/** The HEALTHCHECK lines operators of the original service grep for (docs/observability.md §1), and final statistics. */
import { expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope({ env: { SCHEDULER_HEALTHCHECK_INTERVAL: "0.5" } });
const start = scope.start;
const setup = () => scope.setup();

const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;

test("HEALTHCHECK OK | checks=… executions=… failures=… last_check=… last_execution=… every interval, and final statistics on stop", async () => {
  const { db, queue } = await setup();
  await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600 }]);
  const scheduler = start({ ...db.env, ...queue.env });
  const line = await scheduler.waitForLine(/HEALTHCHECK OK .*executions=1 /, 10_000);
  expect(line).toMatch(
    new RegExp(
      `^${ISO} INFO HEALTHCHECK OK \\| checks=\\d+ executions=1 failures=0 last_check=${ISO} last_execution=${ISO}$`,
    ),
  );
  await waitFor("a second line", () => scheduler.output().split("HEALTHCHECK OK").length > 2, 5_000);
  expect(await scheduler.stop("SIGTERM")).toBe(0);
  expect(scheduler.output()).toMatch(
    new RegExp(
      `${ISO} INFO Final statistics: checks=\\d+ executions=1 failures=0 last_check=${ISO} last_execution=${ISO}`,
    ),
  );
});

test("HEALTHCHECK FAILED | DB: … | MQ: … while a dependency is down", async () => {
  const { db } = await setup();
  const scheduler = start({ ...db.env, RABBITMQ_HOST: "127.0.0.1", RABBITMQ_PORT: "1", SCHEDULER_MAX_RETRIES: "0" });
  const line = await scheduler.waitForLine(/HEALTHCHECK FAILED/, 10_000);
  expect(line).toMatch(new RegExp(`^${ISO} ERROR HEALTHCHECK FAILED \\| DB: up \\| MQ: down$`));
  expect(scheduler.output()).not.toContain("HEALTHCHECK OK");
});
