/** RABBITMQ_QUEUE and RABBITMQ_QUEUE_TYPE (docs/configuration.md §3): declared if missing, used as it is if it exists. */
import { expect, test } from "bun:test";
import amqp from "amqplib";
import { $ } from "bun";
import type { Running } from "../support/binary.ts";
import { testScope } from "../support/scope.ts";
import { insertSchedules, MQ_URL, type TestDatabase, uniqueName, waitFor } from "../support/services.ts";

const scope = testScope();

async function queueType(name: string): Promise<string | null> {
  const listing = await $`rabbitmqctl -q list_queues name type`.quiet().text();
  const line = listing.split("\n").find((l) => l.split(/\s+/)[0] === name);
  return line ? line.split(/\s+/)[1]! : null;
}

async function deleteLater(name: string) {
  scope.defer(async () => {
    const connection = await amqp.connect(MQ_URL);
    await (await connection.createChannel()).deleteQueue(name);
    await connection.close();
  });
}

/** One due row and a scheduler publishing to queue `name` with RABBITMQ_QUEUE_TYPE=quorum, once the row has fired without a failure. */
async function fireOneRowInto(db: TestDatabase, name: string): Promise<Running> {
  await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600 }]);
  const scheduler = scope.start({
    ...db.env,
    RABBITMQ_HOST: "127.0.0.1",
    RABBITMQ_QUEUE: name,
    RABBITMQ_QUEUE_TYPE: "quorum",
  });
  await waitFor(
    "the row to fire",
    async () => {
      const [row] = await db.sql<
        { run_count: number; failure_count: number }[]
      >`SELECT run_count, failure_count FROM scheduled_workflows`;
      return row!.run_count === 1 && row!.failure_count === 0;
    },
    15_000,
  );
  return scheduler;
}

test("a missing queue is declared durable with RABBITMQ_QUEUE_TYPE=quorum, and messages land in it", async () => {
  const db = await scope.database();
  const name = uniqueName("rune_quorum");
  await deleteLater(name);
  await fireOneRowInto(db, name);
  expect(await queueType(name)).toBe("quorum");
  const connection = await amqp.connect(MQ_URL);
  const { messageCount } = await (await connection.createChannel()).checkQueue(name);
  await connection.close();
  expect(messageCount).toBe(1);
});

test("an existing classic queue is used as it is, even when RABBITMQ_QUEUE_TYPE says quorum", async () => {
  const db = await scope.database();
  const name = uniqueName("rune_classic");
  const connection = await amqp.connect(MQ_URL);
  await (await connection.createChannel()).assertQueue(name, {
    durable: true,
    arguments: { "x-queue-type": "classic", "x-max-priority": 5 },
  });
  await connection.close();
  await deleteLater(name);
  const scheduler = await fireOneRowInto(db, name);
  expect(await queueType(name)).toBe("classic");
  expect(scheduler.output()).not.toMatch(/ERROR|PRECONDITION/);
});

test("a missing classic queue is declared as classic version 2 (RabbitMQ 3.10 and later)", async () => {
  const db = await scope.database();
  const name = uniqueName("rune_classic_v2");
  await deleteLater(name);
  await insertSchedules(db.sql, [{ dueInMs: -10, intervalSeconds: 3600 }]);
  scope.start({ ...db.env, RABBITMQ_HOST: "127.0.0.1", RABBITMQ_QUEUE: name });
  await waitFor(
    "the row to fire",
    async () => {
      const [row] = await db.sql<{ run_count: number }[]>`SELECT run_count FROM scheduled_workflows`;
      return row!.run_count === 1;
    },
    15_000,
  );
  const listing = await $`rabbitmqctl -q list_queues name arguments`.quiet().text();
  const line = listing.split("\n").find((l) => l.split(/\s+/)[0] === name);
  expect(line).toContain("x-queue-version");
  expect(line).toContain("x-queue-type");
  expect(await queueType(name)).toBe("classic");
});
