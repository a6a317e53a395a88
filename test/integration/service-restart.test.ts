/**
 * The real thing, once each: RabbitMQ's application stopped and started, PostgreSQL stopped
 * and started. These touch the SHARED services, so every test brings the service back in a
 * `finally` and waits until it answers; the outages are kept to a few seconds.
 */
import { expect, test } from "bun:test";
import amqp, { type ChannelModel } from "amqplib";
import type { Running } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, MQ_URL, type TestDatabase, uniqueName, waitFor } from "../support/services.ts";

const scope = testScope();

async function run(command: string[], timeoutMs = 60_000): Promise<number> {
  const proc = Bun.spawn(command, { stdout: "ignore", stderr: "ignore", timeout: timeoutMs });
  return proc.exited;
}

async function untilOk(what: string, command: string[], timeoutMs = 90_000): Promise<void> {
  await waitFor(what, async () => (await run(command, 10_000)) === 0, timeoutMs, 250);
}

async function rabbitBack(): Promise<void> {
  await run(["rabbitmqctl", "start_app"], 90_000);
  await untilOk("RabbitMQ to start", ["rabbitmqctl", "await_startup", "--timeout", "60"]);
}

const PG_CLUSTER = ["--skip-systemctl-redirect", "15", "main"];

async function postgresBack(): Promise<void> {
  if ((await run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "2"])) !== 0) {
    await run(["pg_ctlcluster", ...PG_CLUSTER, "start"], 90_000);
  }
  await untilOk("PostgreSQL to accept connections", ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "2"]);
}

async function readyz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) })).status;
  } catch {
    return 0;
  }
}

interface RowState {
  run_count: number;
  failure_count: number;
  last_error: string | null;
}

async function rowsOf(db: TestDatabase): Promise<RowState[]> {
  return db.sql<RowState[]>`SELECT run_count, failure_count, last_error FROM scheduled_workflows ORDER BY id`;
}

/**
 * A durable queue, deleted after the test over a connection of its own: a TestQueue's connection
 * would not outlive the broker's restart.
 */
async function durableQueue(): Promise<string> {
  const queue = uniqueName("rune_q");
  const setup = await amqp.connect(MQ_URL);
  await (await setup.createChannel()).assertQueue(queue, { durable: true });
  await setup.close();
  scope.defer(async () => {
    const admin = await amqp.connect(MQ_URL);
    await (await admin.createChannel()).deleteQueue(queue);
    await admin.close();
  });
  return queue;
}

/** A scheduler on `db` and `queue`, serving HTTP on `httpPort`, once its broker link is up. */
async function startScheduler(db: TestDatabase, queue: string, httpPort: number) {
  const scheduler = scope.start({
    ...db.env,
    RABBITMQ_HOST: "127.0.0.1",
    RABBITMQ_QUEUE: queue,
    SCHEDULER_POLL_INTERVAL: "1",
    SCHEDULER_MAX_RETRIES: "0",
    SCHEDULER_HTTP_PORT: String(httpPort),
  });
  await scheduler.waitForLine(/RabbitMQ connection established/);
  return scheduler;
}

/** After the outage: ten distinct messages, each row recorded once and none failed, ready again, still running. */
async function expectEachPublishedOnce(db: TestDatabase, ids: string[], httpPort: number, scheduler: Running) {
  expect(new Set(ids).size).toBe(10);
  expect(ids).toHaveLength(10);
  for (const row of await rowsOf(db)) expect(row).toEqual({ run_count: 1, failure_count: 0, last_error: null });
  await waitFor("ready again", async () => (await readyz(httpPort)) === 200, 10_000);
  expect(scheduler.proc.exitCode).toBeNull();
}

/** Consumes `queue` into `ids` over a connection of its own. */
async function consume(queue: string, ids: string[]): Promise<ChannelModel> {
  const connection = await amqp.connect(MQ_URL);
  connection.on("error", () => {});
  const channel = await connection.createChannel();
  await channel.consume(queue, (message) => {
    if (!message) return;
    ids.push(message.properties.messageId as string);
    channel.ack(message);
  });
  return connection;
}

test("RabbitMQ stop_app / start_app: not ready during the outage, rows due meanwhile are published once after, none failed", async () => {
  const db = await scope.database();
  const queue = await durableQueue();
  const httpPort = await freePort();
  const scheduler = await startScheduler(db, queue, httpPort);

  let stoppedAt = 0;
  let detectedMs = 0;
  try {
    expect(await run(["rabbitmqctl", "stop_app"], 60_000)).toBe(0);
    stoppedAt = Date.now();
    await waitFor("not ready", async () => (await readyz(httpPort)) === 503, 10_000);
    detectedMs = Date.now() - stoppedAt;
    await insertSchedules(
      db.sql,
      Array.from({ length: 10 }, () => ({ dueInMs: 100, intervalSeconds: 3600 })),
    );
    await scheduler.waitForLine(/RabbitMQ failed \(attempt 2\)/, 15_000);
    for (const row of await rowsOf(db)) expect(row).toEqual({ run_count: 0, failure_count: 0, last_error: null });
  } finally {
    await rabbitBack();
  }
  const backAt = Date.now();
  await waitFor("10 rows recorded", async () => (await rowsOf(db)).every((r) => r.run_count === 1), 40_000, 100);
  console.log(
    `[measure] RabbitMQ stop_app → /readyz 503: ${(detectedMs / 1000).toFixed(1)} s; start_app done → rows published: ${((Date.now() - backAt) / 1000).toFixed(1)} s`,
  );
  const ids: string[] = [];
  const consumer = await consume(queue, ids);
  scope.defer(() => consumer.close());
  await waitFor("10 messages", () => ids.length >= 10, 10_000);
  await expectEachPublishedOnce(db, ids, httpPort, scheduler);
}, 180_000);

test("PostgreSQL stopped and started: not ready during the outage, rows due meanwhile are published once after, none failed", async () => {
  const db = await scope.database();
  const queue = await durableQueue();
  const ids: string[] = [];
  const consumer = await consume(queue, ids);
  scope.defer(() => consumer.close());
  const httpPort = await freePort();
  const scheduler = await startScheduler(db, queue, httpPort);
  // Due two seconds out: they fall due while the server is down.
  await insertSchedules(
    db.sql,
    Array.from({ length: 10 }, () => ({ dueInMs: 2_000, intervalSeconds: 3600 })),
  );

  let detectedMs = 0;
  try {
    expect(await run(["pg_ctlcluster", ...PG_CLUSTER, "stop", "-m", "fast"], 60_000)).toBe(0);
    const stoppedAt = Date.now();
    await waitFor("not ready", async () => (await readyz(httpPort)) === 503, 10_000);
    detectedMs = Date.now() - stoppedAt;
    await scheduler.waitForLine(/PostgreSQL failed \(attempt 2\)/, 15_000);
    expect(ids).toHaveLength(0);
  } finally {
    await postgresBack();
  }
  const backAt = Date.now();
  await waitFor("10 messages", () => ids.length >= 10, 40_000, 100);
  await waitFor("10 rows recorded", async () => (await rowsOf(db)).every((r) => r.run_count === 1), 10_000, 100);
  console.log(
    `[measure] PostgreSQL stop → /readyz 503: ${(detectedMs / 1000).toFixed(1)} s; started → rows published: ${((Date.now() - backAt) / 1000).toFixed(1)} s`,
  );
  await expectEachPublishedOnce(db, ids, httpPort, scheduler);
}, 180_000);
