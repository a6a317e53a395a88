/**
 * The HA rig's worker (scripts/ha/worker.ts consume) against the shared RabbitMQ, on a queue of
 * its own: a queue deleted and declared again under it is consumed again, not left with no
 * consumer in silence.
 */
import { expect, test } from "bun:test";
import amqp from "amqplib";
import { consume, Ledger } from "../../scripts/ha/worker.ts";
import { testScope } from "../support/scope.ts";
import { MQ_URL, uniqueName, waitFor } from "../support/services.ts";

const scope = testScope();

test("the worker consumes again after its queue is deleted and declared again, and says so", async () => {
  const queue = uniqueName("rune_worker");
  const connection = await amqp.connect(MQ_URL);
  scope.defer(() => connection.close().catch(() => {}));
  const channel = await connection.createChannel();
  scope.defer(() => channel.deleteQueue(queue).catch(() => {}));
  await channel.assertQueue(queue, { durable: true });
  const lines: string[] = [];
  const ledger = new Ledger();
  const worker = consume([MQ_URL], queue, ledger, (line) => lines.push(line));
  scope.defer(() => worker.stop());
  const send = (id: number) =>
    channel.sendToQueue(queue, Buffer.from(JSON.stringify({ schedule_id: id, missed_runs: 0 })), {
      messageId: `${id}:${Date.now()}`,
    });

  send(1);
  await waitFor("the first message", () => ledger.arrivals.length === 1, 5_000);
  await channel.deleteQueue(queue);
  await waitFor("the cancel said", () => lines.some((l) => l.includes(`queue ${queue} was deleted`)), 5_000);
  await channel.assertQueue(queue, { durable: true });
  send(2);
  await waitFor("the message after the queue came back", () => ledger.arrivals.length === 2, 10_000);
  expect(lines.filter((l) => l.includes("consuming from")).length).toBeGreaterThanOrEqual(2);
});
