/**
 * Two claim lanes share one broker link (src/rabbitmq/link.ts): what one lane's batch meets must
 * not abandon the other's. amqplib's connection and confirm channel are stood in for by event
 * emitters whose confirms the test hands out, in the order a broker could send them; the real
 * broker's part (a nack, a block) is covered in test/integration/recovery-times.test.ts and
 * test/ha/recovery.test.ts.
 */
import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import { brokerLink } from "../../src/rabbitmq/link.ts";
import type { OutgoingMessage } from "../../src/schedule/message.ts";

function standIns() {
  const confirms: ((error: Error | null) => void)[] = [];
  const channel = Object.assign(new EventEmitter(), {
    publish: (_e: string, _q: string, _b: Buffer, _p: unknown, callback: (error: Error | null) => void) => {
      confirms.push(callback);
      return true;
    },
  });
  let closed = 0;
  const connection = Object.assign(new EventEmitter(), {
    close: async () => {
      closed += 1;
    },
  });
  const link = brokerLink({
    connection: connection as unknown as ChannelModel,
    channel: channel as unknown as ConfirmChannel,
    queue: "q",
    redeclareQueue: async () => {},
  });
  return { link, confirms, connection, closed: () => closed };
}

const batch = (from: number, n: number): OutgoingMessage[] =>
  Array.from({ length: n }, (_, i) => ({
    scheduleId: from + i,
    messageId: `${from + i}:0`,
    body: Buffer.from("{}"),
    properties: {} as OutgoingMessage["properties"],
  }));

test("a nack on one lane's batch leaves the other lane's batch to its confirms; the link is retired once both settled", async () => {
  const { link, confirms, closed } = standIns();
  const laneA = link.publishBatch(batch(1, 2));
  const laneB = link.publishBatch(batch(10, 2));
  await Promise.resolve();
  expect(confirms).toHaveLength(4);
  // Lane A: one confirmed, one nacked (a quorum queue without a leader, say).
  confirms[0]!(null);
  confirms[1]!(new Error("message nacked"));
  const a = await laneA;
  expect(a.map((o) => o.status)).toEqual(["confirmed", "unknown"]);
  // The link takes no new batch, but lane B's batch is still waiting, not abandoned.
  expect(link.connected).toBe(false);
  expect((await link.publishBatch(batch(20, 1)))[0]!.status).toBe("unknown");
  expect(closed()).toBe(0);
  confirms[2]!(null);
  confirms[3]!(null);
  expect((await laneB).map((o) => o.status)).toEqual(["confirmed", "confirmed"]);
  // Both settled: now the link is closed.
  expect(closed()).toBe(1);
});

test("connection.blocked gives back every batch in flight at once, the link stays, and publishes again once unblocked", async () => {
  const { link, confirms, connection } = standIns();
  const laneA = link.publishBatch(batch(1, 2));
  await Promise.resolve();
  confirms[0]!(null);
  connection.emit("blocked", "low on memory");
  const outcomes = await laneA;
  expect(outcomes[0]).toEqual({ status: "confirmed" });
  expect(outcomes[1]).toEqual({
    status: "unknown",
    reason: "given back: RabbitMQ blocks publishing (memory alarm)",
  });
  expect(link.blocked).toBe(true);
  expect(link.blockedReason).toBe("memory alarm");
  expect(link.connected).toBe(true);
  // A late confirm of the given-back message changes nothing.
  confirms[1]!(null);
  connection.emit("unblocked");
  const next = link.publishBatch(batch(5, 1));
  await Promise.resolve();
  confirms[2]!(null);
  expect(await next).toEqual([{ status: "confirmed" }]);
});
