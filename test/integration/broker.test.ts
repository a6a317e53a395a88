/** The publisher's per-message outcomes against a real broker, through a fault proxy. */
import { beforeAll, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/config.ts";
import { openBrokerLink } from "../../src/rabbitmq/broker.ts";
import { buildMessage } from "../../src/schedule/message.ts";
import type { FaultProxy } from "../support/proxy.ts";
import { sharedScope } from "../support/scope.ts";
import { MQ, type TestQueue } from "../support/services.ts";

const scope = sharedScope();
let queue: TestQueue;
let proxy: FaultProxy;
beforeAll(async () => {
  queue = await scope.queue();
  proxy = await scope.proxy(MQ);
});

const messages = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    buildMessage(
      {
        id: i + 1,
        workflowId: 1,
        slotMs: Date.now(),
        intervalSeconds: 60,
        runCount: 0,
        failureCount: 0,
        workflowName: "w",
        workflowData: "{}",
      },
      { nowMs: Date.now(), missed: 0 },
    ),
  );

test("confirmed messages are confirmed", async () => {
  const config = loadConfig({ env: { ...queue.env } });
  const link = await openBrokerLink(config.mq, 5_000);
  try {
    const outcomes = await link.publishBatch(messages(20));
    expect(outcomes.every((o) => o.status === "confirmed")).toBe(true);
  } finally {
    await link.close();
  }
});

test("a link cut before the confirms makes every outcome unknown, never failed", async () => {
  const config = loadConfig({ env: { ...queue.env, RABBITMQ_PORT: String(proxy.port) } });
  const link = await openBrokerLink(config.mq, 5_000);
  try {
    proxy.stall(); // the broker's confirms stop arriving
    // publishBatch hands every message to the channel before it first waits (50 small ones do
    // not fill the socket), so the cut below comes after the publishes and before any confirm.
    const pending = link.publishBatch(messages(50));
    proxy.reset(); // then the connection is lost
    const outcomes = await pending;
    expect(outcomes).toHaveLength(50);
    expect(outcomes.filter((o) => o.status !== "unknown")).toEqual([]);
    expect(link.connected).toBe(false);
  } finally {
    proxy.resume();
    await link.close();
  }
});
