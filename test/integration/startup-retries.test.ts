/**
 * Start-up with a dependency out of reach (docs/design.md §13): back off
 * 1 s doubling with jitter, become ready and fire once it answers, or give up after
 * SCHEDULER_MAX_RETRIES attempts with a CRITICAL line that names it, exit 1.
 */
import { expect, test } from "bun:test";
import { testScope } from "../support/scope.ts";
import { insertSchedules, waitFor } from "../support/services.ts";

const scope = testScope();

/** The delays of "next report in N.Ns" lines, in seconds. */
const retryDelays = (output: string) => [...output.matchAll(/next report in ([\d.]+)s/g)].map((m) => Number(m[1]));

test("starts with the broker unreachable, reports on a back-off of 1 s doubling, then becomes ready and fires the due row within about a second of its return", async () => {
  const rig = await scope.rig();
  const [id] = await insertSchedules(rig.db.sql, [{ dueInMs: -1_000, intervalSeconds: 3600 }]);
  rig.mqProxy.refuse();
  const scheduler = rig.start({ SCHEDULER_MAX_RETRIES: "5" });
  await scheduler.waitForLine(/RabbitMQ failed \(attempt 2\/5\)/, 10_000);
  expect(await rig.readyz()).toBe(503);
  expect(await rig.metric("broker_up")).toBe(0);
  expect(rig.queue.messages).toHaveLength(0);

  rig.mqProxy.resume();
  const resumedAt = Date.now();
  await waitFor("the message", () => rig.queue.messages.length === 1, 10_000);
  const recoveredMs = Date.now() - resumedAt;
  await waitFor("ready", async () => (await rig.readyz()) === 200, 5_000);
  const [row] = await waitFor(
    "the row to advance",
    async () => ((await rig.rows())[0]!.run_count === 1 ? rig.rows() : null),
    5_000,
  );
  expect(row).toMatchObject({ id, run_count: 1, failure_count: 0, last_error: null, due: false });

  // Full jitter over the upper half: attempt n waits between 2^(n-1)/2 and 2^(n-1) seconds.
  const delays = retryDelays(scheduler.output());
  expect(delays.length).toBeGreaterThanOrEqual(2);
  delays.forEach((delay, i) => {
    expect(delay).toBeGreaterThanOrEqual(2 ** i / 2 - 0.05);
    expect(delay).toBeLessThanOrEqual(Math.min(30, 2 ** i) + 0.05);
  });
  // Recovery comes with the next attempt, every 1–1.2 s whatever the back-off of the reports.
  expect(recoveredMs).toBeLessThan(3_000);
  await scheduler.waitForLine(/RabbitMQ connection established/, 2_000);
  expect(scheduler.proc.exitCode).toBeNull();
}, 30_000);

test("PostgreSQL never reachable with SCHEDULER_MAX_RETRIES=2: a CRITICAL line naming it and where, exit 1 within seconds", async () => {
  const rig = await scope.rig();
  rig.pgProxy.refuse();
  const started = Date.now();
  const scheduler = rig.start({ SCHEDULER_MAX_RETRIES: "2" });
  const code = await scheduler.exited;
  const elapsed = Date.now() - started;
  expect(code).toBe(1);
  // Two attempts and one back-off of 0.5–1 s.
  expect(elapsed).toBeLessThan(6_000);
  const critical = scheduler
    .output()
    .split("\n")
    .filter((line) => line.includes(" CRITICAL "));
  expect(critical.length).toBeGreaterThanOrEqual(1);
  expect(critical[0]).toContain("PostgreSQL");
  expect(critical[0]).toContain(`127.0.0.1:${rig.pgProxy.port}`);
  expect(scheduler.output()).not.toContain("Database connection pool established");
}, 20_000);

test("RabbitMQ never reachable with SCHEDULER_MAX_RETRIES=2: a CRITICAL line naming it, exit 1, the due row untouched", async () => {
  const rig = await scope.rig();
  await insertSchedules(rig.db.sql, [{ dueInMs: -1_000, intervalSeconds: 60 }]);
  rig.mqProxy.refuse();
  const scheduler = rig.start({ SCHEDULER_MAX_RETRIES: "2" });
  expect(await scheduler.exited).toBe(1);
  const critical = scheduler
    .output()
    .split("\n")
    .filter((line) => line.includes(" CRITICAL "));
  expect(critical[0]).toContain("RabbitMQ");
  expect(critical[0]).toContain(`127.0.0.1:${rig.mqProxy.port}`);
  const [row] = await rig.rows();
  expect(row).toMatchObject({ run_count: 0, failure_count: 0, last_error: null, due: true });
}, 20_000);

test("a broker that accepts but never answers: each attempt ends at SCHEDULER_CONNECT_TIMEOUT, exit 1 in bounded time", async () => {
  const rig = await scope.rig();
  rig.mqProxy.stall();
  const started = Date.now();
  const scheduler = rig.start({ SCHEDULER_MAX_RETRIES: "2", SCHEDULER_CONNECT_TIMEOUT: "2" });
  expect(await scheduler.exited).toBe(1);
  const elapsed = Date.now() - started;
  // 2 × 2 s connect timeout + one back-off of at most 1 s (+ start-up).
  expect(elapsed).toBeGreaterThanOrEqual(4_000);
  expect(elapsed).toBeLessThan(8_000);
  expect(scheduler.output()).toMatch(/CRITICAL .*RabbitMQ/);
}, 20_000);

test("a database that does not exist is refused for good: exit 1 at the first attempt, whatever SCHEDULER_MAX_RETRIES says", async () => {
  const rig = await scope.rig();
  const started = Date.now();
  const scheduler = rig.start({ POSTGRES_DB: "rune_no_such_database", SCHEDULER_MAX_RETRIES: "0" });
  expect(await scheduler.exited).toBe(1);
  expect(Date.now() - started).toBeLessThan(5_000);
  const output = scheduler.output();
  expect(output).toMatch(
    /CRITICAL PostgreSQL refused for good at start-up; fix the configuration; giving up .*error="connecting: PostgreSQL database \\"rune_no_such_database\\" does not exist/,
  );
  expect(output).not.toMatch(/failed \(attempt 2/);
}, 20_000);

test("wrong RabbitMQ credentials are refused for good: exit 1 at the first attempt, the due row untouched", async () => {
  const rig = await scope.rig();
  await insertSchedules(rig.db.sql, [{ dueInMs: -1_000, intervalSeconds: 60 }]);
  const scheduler = rig.start({ RABBITMQ_PASSWORD: "wrong-password", SCHEDULER_MAX_RETRIES: "0" });
  expect(await scheduler.exited).toBe(1);
  expect(scheduler.output()).toMatch(
    /CRITICAL RabbitMQ refused for good at start-up; fix the configuration; giving up .*rejected the credentials/,
  );
  const [row] = await rig.rows();
  expect(row).toMatchObject({ run_count: 0, failure_count: 0, last_error: null, due: true });
}, 20_000);

test("PostgreSQL down at start-up: HEALTHCHECK FAILED says RabbitMQ was not tried yet, LISTEN waits with an explained line, and listens once PostgreSQL answers", async () => {
  const rig = await scope.rig();
  rig.pgProxy.refuse();
  const scheduler = rig.start({ SCHEDULER_MAX_RETRIES: "0", SCHEDULER_NOTIFY_CHANNEL: "rune_test_wakeup" });
  await scheduler.waitForLine(/PostgreSQL failed \(attempt 2\)/, 10_000);
  const lines = scheduler.output().split("\n");
  expect(lines.filter((line) => line.includes("HEALTHCHECK FAILED"))).toEqual([
    expect.stringMatching(/ ERROR HEALTHCHECK FAILED \| DB: down \| MQ: not tried yet$/),
  ]);
  const listen = lines.filter((line) => line.includes("LISTEN"));
  expect(listen).toEqual([
    expect.stringMatching(
      /WARNING LISTEN on "rune_test_wakeup" waits for PostgreSQL \(.*127\.0\.0\.1:\d+.*\); polling every 1s until it listens$/,
    ),
  ]);
  rig.pgProxy.resume();
  await scheduler.waitForLine(/Listening for notifications on "rune_test_wakeup"/, 15_000);
  expect(scheduler.proc.exitCode).toBeNull();
}, 30_000);

test("the last line after a refusal for good says which dependency refused and why", async () => {
  const rig = await scope.rig();
  const scheduler = rig.start({ RABBITMQ_PASSWORD: "wrong-password", SCHEDULER_MAX_RETRIES: "0" });
  expect(await scheduler.exited).toBe(1);
  const last = scheduler.output().trimEnd().split("\n").at(-1);
  expect(last).toMatch(
    /CRITICAL Scheduler stopped: RabbitMQ refused for good at start-up; fix the configuration: connecting: .*rejected the credentials/,
  );
}, 20_000);
